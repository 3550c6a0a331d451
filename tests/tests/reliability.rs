//! What hostile or unlucky surroundings must not do to a run: outputs that are devices, FIFOs
//! or links stay what they are; an index nested a thousand deep fails alone; a host that
//! never answers costs one timeout per run, not per image.

use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Blob, OCI_INDEX};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::Path;
use std::time::{Duration, Instant};

/// A character device like /dev/null (1,3), made where the test can watch it.
fn make_null_device(path: &Path) {
    let status = std::process::Command::new("mknod")
        .arg(path)
        .args(["c", "1", "3"])
        .status()
        .expect("mknod runs");
    assert!(status.success(), "mknod {}", path.display());
}

fn is_null_device(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == libc::makedev(1, 3))
}

/// `-o` naming a device or a FIFO: a clean run leaves it alone (it is not a stale failed list
/// to remove), a run with failures writes the list into it; it is never replaced by a file.
#[tokio::test(flavor = "multi_thread")]
async fn failed_lists_on_devices_and_fifos_are_written_never_replaced() {
    if !hangar_tests::running_as_root(
        "failed_lists_on_devices_and_fifos_are_written_never_replaced",
        "mknod",
    ) {
        return;
    }
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    Pusher::new(&src)
        .push_image("ok/app", Some("1"), &images::single(9100, 20_000))
        .await;
    let env = Env::new();
    let good = format!("{}/ok/app:1", src.addr);
    let missing = format!("{}/ok/app:no-such-tag", src.addr);
    let device = env.path("null-device");
    make_null_device(&device);
    env.write("list.txt", &format!("{good}\n"));
    let clean = env.mirror(&dst.addr, &["-o", device.to_str().unwrap()]);
    clean.ok();
    assert!(is_null_device(&device), "a clean run keeps the device");
    env.write("list.txt", &format!("{good}\n{missing}\n"));
    let failing = env.mirror(&dst.addr, &["-o", device.to_str().unwrap()]);
    assert_eq!(failing.code, 1, "{}", failing.output());
    assert!(is_null_device(&device), "a failing run keeps the device");

    // A FIFO (what a process substitution is): the failed list arrives through it.
    let fifo = env.path("failed.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let failing = env.mirror(&dst.addr, &["-o", fifo.to_str().unwrap()]);
    assert_eq!(failing.code, 1, "{}", failing.output());
    assert_eq!(reader.join().unwrap(), format!("{missing}\n"));
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    env.write("list.txt", &format!("{good}\n"));
    env.mirror(&dst.addr, &["-o", fifo.to_str().unwrap()]).ok();
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo(),
        "a clean run does not remove a FIFO"
    );

    // Reports and lists too: a device stays a device, and no overwrite question is asked.
    let converted = env.run(&[
        "convert-list",
        "-i",
        "list.txt",
        "-o",
        device.to_str().unwrap(),
        "-d",
        "reg.example",
    ]);
    converted.ok();
    assert!(is_null_device(&device));
}

/// A symlinked auth file (dotfile managers, mounted Kubernetes secrets): login and logout
/// change the file the link points to, and the link stays a link.
#[tokio::test(flavor = "multi_thread")]
async fn login_and_logout_go_through_a_symlinked_auth_file() {
    let registry = RegistryServer::basic();
    let mut env = Env::new();
    std::fs::create_dir(env.path("secrets")).unwrap();
    let target = env.path("secrets/auth.json");
    std::fs::write(&target, r#"{"auths":{"other.example":{"auth":"dTpw"}}}"#).unwrap();
    std::os::unix::fs::symlink("secrets/auth.json", env.path("link.json")).unwrap();
    env.set(
        "REGISTRY_AUTH_FILE",
        env.path("link.json").to_str().unwrap(),
    );
    let is_link = |env: &Env| {
        std::fs::symlink_metadata(env.path("link.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    };
    env.run_with_stdin(
        &[
            "login",
            &registry.addr,
            "-u",
            hangar_tests::registry::USER,
            "--password-stdin",
            "--tls-verify=false",
        ],
        Some(&format!("{}\n", hangar_tests::registry::PASSWORD)),
    )
    .ok();
    assert!(is_link(&env), "the link stays a link after login");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    assert!(doc["auths"][&registry.addr]["auth"].is_string(), "{doc}");
    assert_eq!(doc["auths"]["other.example"]["auth"], "dTpw");
    // The credentials work through the link.
    env.run(&[
        "list-tags",
        &format!("{}/nothing/here", registry.addr),
        "--tls-verify=false",
    ])
    .fails_with("not found");
    env.run(&["logout", &registry.addr]).ok();
    assert!(is_link(&env), "the link stays a link after logout");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    assert!(doc["auths"].get(&registry.addr).is_none(), "{doc}");
    assert_eq!(doc["auths"]["other.example"]["auth"], "dTpw");
    // And they are gone: the registry asks for them again.
    env.run(&[
        "list-tags",
        &format!("{}/nothing/here", registry.addr),
        "--tls-verify=false",
    ])
    .fails_with("authentication required");
}

/// An index of an index of ... of an image, `depth` indexes deep, tagged `tag`.
async fn push_nested_index(pusher: &Pusher, repo: &str, tag: &str, depth: usize) -> Blob {
    let leaf = images::single(9200, 5_000);
    pusher.push_image(repo, None, &leaf).await;
    let mut child = leaf.manifest.clone();
    for _ in 0..depth {
        let mut descriptor = child.descriptor();
        descriptor["platform"] = serde_json::json!({"architecture": "amd64", "os": "linux"});
        let index = Blob::new(
            OCI_INDEX,
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor],
            }))
            .unwrap(),
        );
        pusher.push_manifest(repo, &index.digest, &index).await;
        child = index;
    }
    pusher.push_manifest(repo, tag, &child).await;
    child
}

/// Checks a run ended as a run, not as an abort (stack overflow is 134, a panic 101).
fn ended_cleanly(what: &str, run: &hangar_tests::hangar::Run) {
    let out = run.output();
    assert!(
        run.code == 0 || run.code == 1,
        "{what} exited {}:\n{out}",
        run.code
    );
    assert!(
        !out.contains("overflowed its stack") && !out.contains("panicked"),
        "{what}:\n{out}"
    );
}

/// A tag that is an OCI index nested 1,000 deep (every digest valid) fails that image with
/// one clear line; the other image of the list is copied and the failed list is written. The
/// other commands that read manifests end cleanly on it too.
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_deep_index_fails_alone() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let sp = Pusher::new(&src);
    push_nested_index(&sp, "deep/app", "deep", 1000).await;
    let good = images::single(9201, 20_000);
    sp.push_image("ok/app", Some("1"), &good).await;
    let env = Env::new();
    let deep_line = format!("{}/deep/app:deep", src.addr);
    env.write("list.txt", &format!("{deep_line}\n{}/ok/app:1\n", src.addr));
    let run = env.mirror(&dst.addr, &[]);
    ended_cleanly("mirror", &run);
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.output()
            .contains("indexes nested more than 8 levels deep"),
        "{}",
        run.output()
    );
    assert_eq!(
        Pusher::new(&dst)
            .manifest("ok/app", "1")
            .await
            .expect("the good image was copied")
            .digest,
        good.manifest.digest
    );
    assert_eq!(
        std::fs::read_to_string(env.path("mirror-failed.txt")).unwrap(),
        format!("{deep_line}\n")
    );

    // A nesting of a few levels is real and copies.
    push_nested_index(&sp, "nested/app", "two", 2).await;
    env.write("list.txt", &format!("{}/nested/app:two\n", src.addr));
    env.mirror(&dst.addr, &[]).ok();

    env.write("list.txt", &format!("{deep_line}\n{}/ok/app:1\n", src.addr));
    let validate = env.run(&[
        "mirror",
        "validate",
        "-f",
        "list.txt",
        "-d",
        &dst.addr,
        "--tls-verify=false",
    ]);
    ended_cleanly("mirror validate", &validate);
    let save = env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "deep.zip",
        "--tls-verify=false",
        "-y",
    ]);
    ended_cleanly("save", &save);
    assert_eq!(save.code, 1, "{}", save.output());
    for (what, args) in [
        ("inspect", vec!["inspect", deep_line.as_str()]),
        ("view", vec!["view", "provenance", deep_line.as_str()]),
        (
            "scan",
            vec!["scan", "-f", "list.txt", "-r", "scan.json", "-y"],
        ),
    ] {
        let mut args = args.clone();
        args.push("--tls-verify=false");
        ended_cleanly(what, &env.run(&args));
    }
}

/// A TCP listener that accepts connections and never says a word: a host that hangs.
struct SilentHost {
    addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentHost {
    fn start() -> SilentHost {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        SilentHost {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SilentHost {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Three images from a host that accepts connections and never answers, and one good image,
/// with default settings and one worker: the silent host costs one timeout for the run, the
/// later images from it fail at once naming the image that first met it, the good one is
/// copied.
#[tokio::test(flavor = "multi_thread")]
async fn a_silent_host_costs_one_timeout_per_run() {
    let silent = SilentHost::start();
    // Default settings verify TLS, so the good image comes from a TLS registry (its CA given
    // the certs.d way), copied into another repository of the same registry.
    let registry = RegistryServer::tls();
    let good = images::single(9300, 20_000);
    Pusher::new(&registry)
        .push_image("ok/app", Some("1"), &good)
        .await;
    let mut env = Env::new();
    env.set(
        "HANGAR_CERTS_D",
        &registry.certs_root().display().to_string(),
    );
    let silent_lines: Vec<String> = (1..=3)
        .map(|n| format!("{}/hung/app{n}:1", silent.addr))
        .collect();
    env.write(
        "list.txt",
        &format!(
            "{}\n{}/ok/app:1 copied/app 1\n",
            silent_lines.join("\n"),
            registry.addr
        ),
    );
    let started = Instant::now();
    let run = env.run(&["mirror", "-f", "list.txt", "-d", &registry.addr, "-j", "1"]);
    let took = started.elapsed();
    let out = run.output();
    assert_eq!(run.code, 1, "{out}");
    assert!(took < Duration::from_secs(240), "took {took:?}:\n{out}");
    eprintln!("3 images from a silent host + 1 good image: {took:?}");
    let failed = std::fs::read_to_string(env.path("mirror-failed.txt")).unwrap();
    assert_eq!(failed, format!("{}\n", silent_lines.join("\n")));
    assert!(
        out.contains(&format!(
            "no answer from {} (first seen at {}",
            silent.addr, silent_lines[0]
        )),
        "{out}"
    );
    assert_eq!(
        Pusher::new(&registry)
            .manifest("copied/app", "1")
            .await
            .expect("the good image was copied")
            .digest,
        good.manifest.digest
    );
    // Single-image commands are bounded the same way (no per-image limit there).
    for args in [
        vec!["inspect", silent_lines[0].as_str()],
        vec!["list-tags", silent_lines[0].as_str()],
    ] {
        let started = Instant::now();
        let run = env.run(&args);
        let took = started.elapsed();
        assert_eq!(run.code, 1, "{}", run.output());
        assert!(run.output().contains("no answer from"), "{}", run.output());
        assert!(took < Duration::from_secs(60), "{args:?} took {took:?}");
    }
}
