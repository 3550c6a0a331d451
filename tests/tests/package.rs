//! The release artifacts `package/build` makes, checked as an operator would use them. These
//! tests are ignored in `tests/run` (the cross builds take longer than CI has) and run by
//! `package/test` after `package/build`, with HANGAR_PACKAGE_DIR naming the artifacts.

use hangar_tests::images;
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::path::PathBuf;
use std::process::Command;

fn artifacts() -> PathBuf {
    let dir = std::env::var_os("HANGAR_PACKAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/package"));
    assert!(
        dir.join("SHA256SUMS").is_file(),
        "{} holds no artifacts: run package/build first",
        dir.display()
    );
    dir
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[test]
#[ignore = "needs package/build's artifacts; package/test runs it"]
fn binaries_are_static_and_checksummed() {
    let dir = artifacts();
    for arch in ["amd64", "arm64"] {
        let binary = dir.join(format!("hangar-linux-{arch}"));
        if arch == "arm64" && !binary.exists() {
            continue; // package/build --amd64-only
        }
        let described = output(Command::new("file").arg(&binary));
        assert!(described.contains("statically linked"), "{described}");
        let ldd = output(Command::new("ldd").arg(&binary));
        assert!(
            ldd.contains("not a dynamic executable") || ldd.contains("statically linked"),
            "{ldd}"
        );
    }
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let listed = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    assert!(
        listed.contains("hangar-linux-amd64") && listed.contains(".deb") && listed.contains(".rpm"),
        "{listed}"
    );
}

/// The amd64 binary alone in an empty root (no libc, no CA bundle, no shell) mirrors an image
/// between two local registries.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs package/build's artifacts; package/test runs it"]
async fn the_static_binary_mirrors_from_an_empty_root() {
    let dir = artifacts();
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let image = images::single(9700, 50_000);
    Pusher::new(&src)
        .push_image("chroot/app", Some("1"), &image)
        .await;
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join("hangar-linux-amd64"), root.path().join("hangar")).unwrap();
    std::fs::write(
        root.path().join("list.txt"),
        format!("{}/chroot/app:1\n", src.addr),
    )
    .unwrap();
    let entries: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
    assert_eq!(
        entries.len(),
        2,
        "the root holds the binary and the list only"
    );
    let out = Command::new("/usr/sbin/chroot")
        .arg(root.path())
        .args([
            "/hangar",
            "mirror",
            "-f",
            "/list.txt",
            "-d",
            &dst.addr,
            "--tls-verify=false",
        ])
        .env_clear()
        .env("HOME", "/")
        .output()
        .expect("chroot (run package/test as root)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = Pusher::new(&dst).manifest("chroot/app", "1").await.unwrap();
    assert_eq!(got.digest, image.manifest.digest);
    let printed = Command::new("/usr/sbin/chroot")
        .arg(root.path())
        .args(["/hangar", "version"])
        .env_clear()
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(
        text.starts_with(&format!("hangar version v{}", version())),
        "{text}"
    );
    assert!(text.contains("linux/x86_64, static (musl)"), "{text}");
    assert!(
        text.contains("embedded plugins: harbor, osv-scanner, sbom, helm, rancher"),
        "{text}"
    );
}

#[test]
#[ignore = "needs package/build's artifacts; package/test runs it"]
fn the_arm64_binary_runs_under_qemu() {
    let binary = artifacts().join("hangar-linux-arm64");
    if !binary.exists() {
        panic!(
            "{} is missing (package/build without --amd64-only makes it)",
            binary.display()
        );
    }
    let text = output(
        Command::new("qemu-aarch64-static")
            .arg(&binary)
            .arg("version"),
    );
    assert!(
        text.starts_with(&format!("hangar version v{}", version())),
        "{text}"
    );
    assert!(text.contains("linux/aarch64, static (musl)"), "{text}");
}

/// The .deb and .rpm install the binary, the completions and a man page per command, and the
/// pages render with `man -l`.
#[test]
#[ignore = "needs package/build's artifacts; package/test runs it"]
fn packages_hold_binary_completions_and_man_pages() {
    let dir = artifacts();
    let deb = dir.join(format!("hangar_{}_amd64.deb", version()));
    let listing = output(Command::new("dpkg-deb").arg("-c").arg(&deb));
    let rpm = dir.join(format!("hangar-{}-1.x86_64.rpm", version()));
    let rpm_listing = output(Command::new("rpm").args(["-qlp"]).arg(&rpm));
    for wanted in [
        "/usr/bin/hangar",
        "/usr/share/bash-completion/completions/hangar",
        "/usr/share/zsh/vendor-completions/_hangar",
        "/usr/share/fish/vendor_completions.d/hangar.fish",
        "/usr/share/man/man1/hangar.1.gz",
        "/usr/share/man/man1/hangar-mirror.1.gz",
        "/usr/share/man/man1/hangar-mirror-validate.1.gz",
        "/usr/share/man/man1/hangar-archive-merge.1.gz",
        "/usr/share/man/man1/hangar-sign-validate.1.gz",
    ] {
        assert!(
            listing.contains(&format!(".{wanted}")),
            "deb lacks {wanted}:\n{listing}"
        );
        assert!(
            rpm_listing.contains(wanted),
            "rpm lacks {wanted}:\n{rpm_listing}"
        );
    }
    let info = output(Command::new("dpkg-deb").arg("-I").arg(&deb));
    assert!(
        info.contains("Package: hangar") && info.contains("Architecture: amd64"),
        "{info}"
    );

    // Unpacked as dpkg would into a scratch root: the binary runs and the pages render.
    let root = tempfile::tempdir().unwrap();
    let unpacked = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(root.path())
        .status()
        .unwrap();
    assert!(unpacked.success());
    let text = output(Command::new(root.path().join("usr/bin/hangar")).arg("version"));
    assert!(
        text.starts_with(&format!("hangar version v{}", version())),
        "{text}"
    );
    let page = output(
        Command::new("man")
            .arg("-l")
            .arg(root.path().join("usr/share/man/man1/hangar-mirror.1.gz"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100"),
    );
    assert!(
        page.contains("hangar-mirror") && page.contains("--shard"),
        "{page}"
    );
    let pages = std::fs::read_dir(root.path().join("usr/share/man/man1"))
        .unwrap()
        .count();
    assert!(pages > 40, "only {pages} man pages");
}

/// podman with the storage, cgroup and runtime settings that work here, its state in `root`.
fn podman(root: &std::path::Path) -> Command {
    let mut cmd = Command::new("podman");
    cmd.arg("--root")
        .arg(root.join("storage"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args([
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--runtime",
            "runc",
            "--events-backend",
            "file",
        ]);
    cmd
}

/// The image package/build wrote (an OCI layout) is published with the static hangar itself,
/// byte for byte, and runs under podman as user 65532: `hangar version`, then a mirror between
/// two local registries with the list mounted in.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs package/build's artifacts; package/test runs it"]
async fn the_image_is_published_with_hangar_and_runs_under_podman() {
    let dir = artifacts();
    let layout = dir.join("image");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        std::fs::read_to_string(dir.join("image.digest"))
            .unwrap()
            .trim(),
        digest
    );
    let (home, src, dst) = (
        RegistryServer::plain(),
        RegistryServer::plain(),
        RegistryServer::plain(),
    );
    let work = tempfile::tempdir().unwrap();
    let list = work.path().join("publish.txt");
    std::fs::write(
        &list,
        format!(
            "oci:{} {}/hangar/hangar {}\n",
            layout.display(),
            home.addr,
            version()
        ),
    )
    .unwrap();
    let published = Command::new(dir.join("hangar-linux-amd64"))
        .args(["mirror", "--tls-verify=false", "-f"])
        .arg(&list)
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    let got = Pusher::new(&home)
        .manifest("hangar/hangar", &version())
        .await
        .unwrap();
    assert_eq!(got.digest, digest);
    let platforms: Vec<String> =
        serde_json::from_slice::<serde_json::Value>(&got.bytes).unwrap()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap().to_string())
            .collect();
    let wanted: &[&str] = if dir.join("hangar-linux-arm64").exists() {
        &["amd64", "arm64"]
    } else {
        &["amd64"]
    };
    assert_eq!(platforms, wanted);

    let image = format!("{}/hangar/hangar:{}", home.addr, version());
    let state = tempfile::tempdir().unwrap();
    let pulled = podman(state.path())
        .args(["pull", "--tls-verify=false", "--quiet", &image])
        .output()
        .expect("podman (package/test installs it)");
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    let run = |args: &[&str], volume: Option<&std::path::Path>| {
        let mut cmd = podman(state.path());
        // podman raises RLIMIT_NOFILE and RLIMIT_NPROC to its defaults unless told; a container
        // or CI sandbox with lower hard limits refuses that.
        cmd.args(["run", "--rm", "--net", "host"]).args([
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=4096:4096",
        ]);
        if let Some(volume) = volume {
            cmd.arg("-v").arg(format!("{}:/list:ro", volume.display()));
        }
        cmd.arg(&image).args(args);
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, text) = run(&["version"], None);
    assert!(ok, "{text}");
    assert!(
        text.starts_with(&format!("hangar version v{}", version()))
            && text.contains("linux/x86_64, static (musl)"),
        "{text}"
    );
    let (ok, text) = run(&["-v"], None);
    assert!(ok && text.contains(&version()), "{text}");

    // A mirror from inside the container, as the non-root user, the list mounted read-only.
    let app = images::single(9710, 40_000);
    Pusher::new(&src)
        .push_image("team/app", Some("1"), &app)
        .await;
    let lists = tempfile::tempdir().unwrap();
    std::fs::write(
        lists.path().join("list.txt"),
        format!("{}/team/app:1\n", src.addr),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(lists.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (ok, text) = run(
        &[
            "mirror",
            "-f",
            "/list/list.txt",
            "-d",
            &dst.addr,
            "--tls-verify=false",
        ],
        Some(lists.path()),
    );
    assert!(ok, "{text}");
    let copied = Pusher::new(&dst).manifest("team/app", "1").await.unwrap();
    assert_eq!(copied.digest, app.manifest.digest);
    let (_, whoami) = {
        let mut cmd = podman(state.path());
        cmd.args(["image", "inspect", "--format", "{{.Config.User}}", &image]);
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    assert_eq!(whoami.trim(), "65532:65532");
}

/// With `package/build --sign-key KEY`, every artifact has a FILE.sig that `hangar
/// verify-blob` accepts with the public key the build put beside them (cosign.pub).
#[test]
#[ignore = "needs package/build's artifacts; package/test runs it"]
fn artifacts_are_signed_when_a_key_is_given() {
    let dir = artifacts();
    let public = dir.join("cosign.pub");
    assert!(
        public.is_file(),
        "{} is missing: package/build --sign-key KEY puts it there",
        public.display()
    );
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let mut files: Vec<String> = sums
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect();
    files.push("SHA256SUMS".into());
    let out = Command::new(dir.join("hangar-linux-amd64"))
        .arg("verify-blob")
        .arg("-k")
        .arg(&public)
        .args(&files)
        .current_dir(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches("Verified OK").count(), files.len(), "{text}");
}
