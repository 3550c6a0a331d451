//! Auth and TLS against real servers: TLS + htpasswd, bearer tokens from a token server,
//! credentials from auth files, CA certificates from certs.d, and the errors users see when
//! any of that is wrong.

use hangar_tests::hangar::Env;
use hangar_tests::images::{self, MultiArch};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::{PASSWORD, RegistryServer, USER};

#[tokio::test(flavor = "multi_thread")]
async fn tls_and_basic_auth_from_auth_file_and_certs_dir() {
    let src = RegistryServer::token();
    let dst = RegistryServer::tls_basic();
    let img = MultiArch::build(700, 1500);
    Pusher::new(&src)
        .push_index("secure/app", "v1", &img.index, &img.children())
        .await;

    let mut env = Env::new();
    // One auth file holding both registries' credentials.
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let doc =
        serde_json::json!({"auths": {&src.addr: {"auth": &auth}, &dst.addr: {"auth": &auth}}});
    std::fs::write(env.path("auth.json"), doc.to_string()).unwrap();
    env.set("HANGAR_CERTS_D", &dst.certs_root().display().to_string());
    env.write("list.txt", &format!("{}/secure/app:v1\n", src.addr));

    // TLS is verified by default, so the plain-HTTP token registry is refused with a hint.
    let run = env.run(&[
        "mirror",
        "-f",
        "list.txt",
        "-d",
        &dst.addr,
        "-a",
        "amd64,arm64,arm",
        "--os",
        "",
    ]);
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.output().contains("--tls-verify=false"),
        "{}",
        run.output()
    );

    // --tls-verify=false: plain HTTP for the source, self-signed accepted for the destination.
    let run = env.mirror(&dst.addr, &["-a", "amd64,arm64,arm", "--os", ""]);
    run.ok();
    let got = Pusher::new(&dst)
        .manifest("secure/app", "v1")
        .await
        .unwrap();
    assert_eq!(got.digest, img.index.digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn verified_tls_uses_the_ca_from_certs_d() {
    let src = RegistryServer::tls();
    let dst = RegistryServer::tls_basic();
    let img = images::single(710, 1000);
    Pusher::new(&src)
        .push_image("ca/app", Some("1"), &img)
        .await;

    // A certs.d root holding both CAs, as /etc/containers/certs.d would.
    let mut env = Env::new();
    let root = env.path("certs.d");
    for r in [&src, &dst] {
        let d = root.join(&r.addr);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(r.ca_path(), d.join("ca.crt")).unwrap();
    }
    dst.write_auth_file(&env.path("auth.json"));
    env.write("list.txt", &format!("{}/ca/app:1\n", src.addr));

    // Without the CA: refused, with a hint naming certs.d.
    let run = env.run(&["mirror", "-f", "list.txt", "-d", &dst.addr]);
    assert_eq!(run.code, 1);
    assert!(run.output().contains("certs.d"), "{}", run.output());

    env.set("HANGAR_CERTS_D", &root.display().to_string());
    env.run(&["mirror", "-f", "list.txt", "-d", &dst.addr]).ok();
    assert_eq!(
        Pusher::new(&dst)
            .manifest("ca/app", "1")
            .await
            .unwrap()
            .digest,
        img.manifest.digest
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_tokens_on_both_ends_and_mount_within_one_registry() {
    let reg = RegistryServer::token();
    let img = MultiArch::build(720, 3000);
    Pusher::new(&reg)
        .push_index("team/app", "v1", &img.index, &img.children())
        .await;
    let env = Env::new();
    reg.write_auth_file(&env.path("auth.json"));
    // Same registry, another repository: blobs are mounted, not copied.
    env.write(
        "list.txt",
        &format!("{0}/team/app:v1 {0}/mirror/app v1\n", reg.addr),
    );
    let run = env.run(&[
        "mirror",
        "-f",
        "list.txt",
        "--tls-verify=false",
        "-a",
        "",
        "--os",
        "",
        "--log-format",
        "json",
    ]);
    run.ok();
    let got = Pusher::new(&reg)
        .manifest("mirror/app", "v1")
        .await
        .unwrap();
    assert_eq!(got.digest, img.index.digest);
    let events: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["event"] == "blob_finished")
        .collect();
    assert!(!events.is_empty(), "{}", run.stderr);
    // Nothing crosses the wire: each blob is mounted, or found already mounted by a sibling.
    assert!(
        events
            .iter()
            .all(|e| e["how"] == "mounted" || e["how"] == "exists"),
        "{events:?}"
    );
    assert!(
        events.iter().filter(|e| e["how"] == "mounted").count() >= 8,
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_and_missing_credentials_say_so() {
    let reg = RegistryServer::token();
    let basic = RegistryServer::basic();
    let src = RegistryServer::plain();
    let img = images::single(730, 1000);
    Pusher::new(&src).push_image("p/app", Some("1"), &img).await;
    let env = Env::new();
    env.write("list.txt", &format!("{}/p/app:1\n", src.addr));
    use base64::Engine as _;
    let bad = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:wrong"));
    let doc =
        serde_json::json!({"auths": {&reg.addr: {"auth": &bad}, &basic.addr: {"auth": &bad}}});
    std::fs::write(env.path("auth.json"), doc.to_string()).unwrap();

    let run = env.mirror(&reg.addr, &[]);
    assert_eq!(run.code, 1);
    let out = run.output();
    assert!(
        out.contains("token request to") && out.contains("401") && out.contains("credentials"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("mirror-failed.txt")).unwrap(),
        format!("{}/p/app:1\n", src.addr)
    );

    let run = env.mirror(&basic.addr, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.output().contains("authentication required"),
        "{}",
        run.output()
    );
    assert!(
        run.output()
            .contains(&format!("hangar login {}", basic.addr)),
        "{}",
        run.output()
    );
}

/// containers/image's choice of credentials: an auth-file entry for `host/namespace` serves
/// that namespace ahead of the registry's own entry, which serves everything else.
#[tokio::test(flavor = "multi_thread")]
async fn a_namespace_entry_wins_over_the_registry_entry_for_its_repositories() {
    let reg = RegistryServer::token();
    let src = RegistryServer::plain();
    let (team, other) = (images::single(735, 1000), images::single(736, 1000));
    let sp = Pusher::new(&src);
    sp.push_image("p/app", Some("1"), &team).await;
    sp.push_image("q/app", Some("1"), &other).await;
    let env = Env::new();
    use base64::Engine as _;
    let encode =
        |pass: &str| base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{pass}"));
    let doc = serde_json::json!({"auths": {
        format!("{}/team", reg.addr): {"auth": encode(PASSWORD)},
        &reg.addr: {"auth": encode("wrong")},
    }});
    std::fs::write(env.path("auth.json"), doc.to_string()).unwrap();
    env.write(
        "list.txt",
        &format!(
            "{0}/p/app:1 {1}/team/app 1\n{0}/q/app:1 {1}/other/app 1\n",
            src.addr, reg.addr
        ),
    );
    let run = env.run(&["mirror", "-f", "list.txt", "--tls-verify=false"]);
    assert_eq!(run.code, 1, "{}", run.output());
    let out = run.output();
    assert!(
        out.contains("401") && out.contains("credentials") && out.contains("other/app"),
        "{out}"
    );
    let rp = Pusher::new(&reg);
    assert_eq!(
        rp.manifest("team/app", "1").await.unwrap().digest,
        team.manifest.digest
    );
    assert!(rp.manifest("other/app", "1").await.is_none());
    assert_eq!(
        std::fs::read_to_string(env.path("mirror-failed.txt")).unwrap(),
        format!("{}/q/app:1 {}/other/app 1\n", src.addr, reg.addr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn login_verifies_then_writes_the_auth_file_and_logout_removes_it() {
    let reg = RegistryServer::tls_basic();
    let mut env = Env::new();
    env.set("HANGAR_CERTS_D", &reg.certs_root().display().to_string());
    let auth_file = env.path("auth.json");

    let bad = env.run_with_stdin(
        &["login", &reg.addr, "-u", USER, "--password-stdin"],
        Some("nope\n"),
    );
    assert_eq!(bad.code, 1, "{}", bad.output());
    assert!(bad.output().contains("login to"), "{}", bad.output());
    assert!(
        !auth_file.exists(),
        "nothing written for refused credentials"
    );

    let good = env.run_with_stdin(
        &["login", &reg.addr, "-u", USER, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    good.ok();
    assert!(good.stdout.contains("Login Succeeded"));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&auth_file).unwrap()).unwrap();
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    assert_eq!(doc["auths"][&reg.addr]["auth"], expected.as_str());

    // The stored credentials now work for other commands.
    let img = images::single(740, 1000);
    Pusher::new(&reg).push_image("x/y", Some("t"), &img).await;
    let tags = env.run(&["list-tags", &format!("{}/x/y", reg.addr)]);
    tags.ok();
    assert_eq!(
        serde_json::from_str::<Vec<String>>(&tags.stdout).unwrap(),
        vec!["t"]
    );

    env.run(&["logout", &reg.addr]).ok();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&auth_file).unwrap()).unwrap();
    assert!(doc["auths"].get(&reg.addr).is_none());
    let again = env.run(&["logout", &reg.addr]);
    assert_eq!(again.code, 1);
    assert!(again.output().contains("not logged into"));
}

/// A containers tool's command line (podman gets a throwaway store under `scratch`, with
/// this machine's storage driver).
fn containers_tool(tool: &str, scratch: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(tool);
    if tool == "podman" {
        cmd.arg("--root")
            .arg(scratch.join("podman-root"))
            .arg("--runroot")
            .arg(scratch.join("podman-run"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"]);
    }
    cmd.env_remove("XDG_RUNTIME_DIR")
        .env_remove("REGISTRY_AUTH_FILE");
    cmd
}

/// Removes a login when the test ends, also when it fails.
struct Logout(&'static str, String, std::path::PathBuf);

impl Drop for Logout {
    fn drop(&mut self) {
        let _ = containers_tool(self.0, &self.2)
            .args(["logout", &self.1])
            .output();
    }
}

/// podman and skopeo run as root with no XDG_RUNTIME_DIR (a container, a Kubernetes Job, a
/// CI runner) keep their logins in /run/containers/0/auth.json: hangar reads them there,
/// with no `hangar login`.
#[tokio::test(flavor = "multi_thread")]
async fn a_podman_or_skopeo_login_as_root_is_used_without_hangar_login() {
    if !hangar_tests::running_as_root(
        "a_podman_or_skopeo_login_as_root_is_used_without_hangar_login",
        "podman and skopeo login write /run/containers/0/auth.json",
    ) {
        return;
    }
    let src = RegistryServer::plain();
    let img = images::single(760, 3000);
    Pusher::new(&src).push_image("p/app", Some("1"), &img).await;
    let scratch = tempfile::tempdir().unwrap();
    for tool in ["skopeo", "podman"] {
        let dst = RegistryServer::basic();
        let login = containers_tool(tool, scratch.path())
            .args([
                "login",
                "--tls-verify=false",
                "-u",
                USER,
                "--password-stdin",
            ])
            .arg(&dst.addr)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(PASSWORD.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap_or_else(|e| panic!("{tool} runs (tests/install-deps installs it): {e}"));
        let _logout = Logout(tool, dst.addr.clone(), scratch.path().to_path_buf());
        assert!(
            login.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&login.stderr)
        );
        let written = std::fs::read_to_string("/run/containers/0/auth.json").unwrap();
        assert!(written.contains(&dst.addr), "{tool}: {written}");

        let mut env = Env::new();
        // No auth file of the test's own: only the file the tool wrote has the credentials.
        env.set("REGISTRY_AUTH_FILE", "");
        env.write("list.txt", &format!("{}/p/app:1\n", src.addr));
        let run = env.mirror(&dst.addr, &[]);
        assert_eq!(run.code, 0, "{tool}: {}", run.output());
        let got = Pusher::new(&dst)
            .manifest("p/app", "1")
            .await
            .unwrap_or_else(|| panic!("copied with {tool}'s credentials"));
        assert_eq!(got.digest, img.manifest.digest);
    }
}
