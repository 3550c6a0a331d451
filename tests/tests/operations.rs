//! Operational behaviour: Ctrl-C, per-image timeouts, platform details filled from configs,
//! credential helpers, identity tokens, /etc/containers/certs.d and client certificates.

use hangar_tests::fault_proxy::{Fault, FaultProxy, Rule};
use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Format, Platform};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::{PASSWORD, RegistryServer, USER};
use std::time::Duration;

fn stall(path: &str) -> Rule {
    Rule {
        method: "GET",
        path_contains: path.into(),
        fault: Fault::Stall(Duration::from_secs(30)),
        times: 1,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn first_ctrl_c_stops_cleanly_and_writes_every_unfinished_line() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let (a, b, c) = (
        images::single(1000, 5000),
        images::single(1001, 5000),
        images::single(1002, 5000),
    );
    let sp = Pusher::new(&src);
    sp.push_image("int/a", Some("1"), &a).await;
    sp.push_image("int/b", Some("1"), &b).await;
    sp.push_image("int/c", Some("1"), &c).await;
    let proxy = FaultProxy::start(&src.addr);
    proxy.add(stall(&format!("/blobs/{}", b.layers[0].digest)));
    let env = Env::new();
    env.write(
        "list.txt",
        &format!("{0}/int/a:1\n{0}/int/b:1\n{0}/int/c:1\n", proxy.addr),
    );
    let child = env.spawn(&[
        "mirror",
        "-f",
        "list.txt",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "-j",
        "1",
    ]);
    // Wait until image b hangs on its layer, then interrupt.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !proxy.log().iter().any(|l| l.contains(&b.layers[0].digest)) {
        assert!(
            std::time::Instant::now() < deadline,
            "image b never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped promptly, not after the 30 s stall"
    );
    assert!(stderr.contains("Abort: [interrupt] received"), "{stderr}");
    // a finished; b was in flight; c never started: both go to the failed list, in order.
    let failed = std::fs::read_to_string(env.path("mirror-failed.txt")).unwrap();
    assert_eq!(failed, format!("{0}/int/b:1\n{0}/int/c:1\n", proxy.addr));
    let dp = Pusher::new(&dst);
    assert_eq!(
        dp.manifest("int/a", "1").await.unwrap().digest,
        a.manifest.digest
    );
    assert!(dp.manifest("int/b", "1").await.is_none());
    assert!(
        !dp.blob_exists("int/b", &b.layers[0].digest).await,
        "no partial blob committed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_image_times_out_and_the_others_finish() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let (a, b) = (images::single(1010, 5000), images::single(1011, 5000));
    let sp = Pusher::new(&src);
    sp.push_image("to/a", Some("1"), &a).await;
    sp.push_image("to/b", Some("1"), &b).await;
    let proxy = FaultProxy::start(&src.addr);
    proxy.add(stall(&format!("/blobs/{}", a.layers[0].digest)));
    let env = Env::new();
    env.write("list.txt", &format!("{0}/to/a:1\n{0}/to/b:1\n", proxy.addr));
    let run = env.mirror(&dst.addr, &["-j", "2", "--timeout", "2s"]);
    assert_eq!(run.code, 1);
    assert!(
        run.output().contains("timed out after 2s"),
        "{}",
        run.output()
    );
    assert_eq!(
        std::fs::read_to_string(env.path("mirror-failed.txt")).unwrap(),
        format!("{}/to/a:1\n", proxy.addr)
    );
    assert_eq!(
        Pusher::new(&dst)
            .manifest("to/b", "1")
            .await
            .unwrap()
            .digest,
        b.manifest.digest
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_arm_variant_is_filled_from_the_config() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let amd = images::single(1020, 100);
    let mut arm = images::image(
        Format::Oci,
        Platform::new("linux", "arm", Some("v7")),
        &[images::layer(Format::Oci, 1021, 100)],
    );
    // The index entry says only linux/arm; the config says variant v7 (Hangar #83).
    arm.platform.variant = None;
    let index = images::index(Format::Oci, &[amd.clone(), arm.clone()]);
    Pusher::new(&src)
        .push_index("var/app", "v1", &index, &[&amd, &arm])
        .await;
    let env = Env::new();
    env.write("list.txt", &format!("{}/var/app:v1\n", src.addr));

    let v6 = env.mirror(&dst.addr, &["-a", "arm", "--variant", "v6"]);
    v6.ok();
    assert!(
        v6.output()
            .contains("no available image for specified arch and os"),
        "{}",
        v6.output()
    );
    assert!(Pusher::new(&dst).manifest("var/app", "v1").await.is_none());

    env.mirror(&dst.addr, &["-a", "arm", "--variant", "v7"])
        .ok();
    let got = Pusher::new(&dst).manifest("var/app", "v1").await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&got.bytes).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(v["manifests"][0]["digest"], arm.manifest.digest.as_str());
    assert_eq!(
        v["manifests"][0]["platform"]["variant"], "v7",
        "filled from the config"
    );

    let validate = env.run(&[
        "mirror",
        "validate",
        "-f",
        "list.txt",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "-a",
        "arm",
        "--variant",
        "v7",
    ]);
    validate.ok();
    assert!(validate.output().contains("PASS:"), "{}", validate.output());
    let fails = env.run(&[
        "mirror",
        "validate",
        "-f",
        "list.txt",
        "-d",
        &dst.addr,
        "--tls-verify=false",
    ]);
    assert_eq!(fails.code, 1);
    assert!(
        fails.output().contains("FAILED:") && fails.output().contains("linux/amd64"),
        "{}",
        fails.output()
    );
    assert!(fails.output().contains("some images failed to validate"));
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_from_a_credential_helper_program() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::basic());
    let img = images::single(1030, 5000);
    Pusher::new(&src)
        .push_image("helper/app", Some("1"), &img)
        .await;
    let mut env = Env::new();
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-hangartest");
    std::fs::write(
        &helper,
        format!("#!/bin/sh\nread server\necho \"$server\" >> \"$(dirname \"$0\")/asked\"\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let empty_helper = bin.join("docker-credential-hangarnone");
    std::fs::write(
        &empty_helper,
        "#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&empty_helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set(
        "PATH",
        &format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
    );
    let docker_dir = env.path("home/.docker");
    std::fs::create_dir_all(&docker_dir).unwrap();
    std::fs::write(
        docker_dir.join("config.json"),
        // credsStore names a helper that knows nothing (and fails, as real ones do): the
        // anonymous source must still be read; the destination's own helper answers.
        serde_json::json!({"credsStore": "hangarnone", "credHelpers": {&dst.addr: "hangartest"}})
            .to_string(),
    )
    .unwrap();
    env.write("list.txt", &format!("{}/helper/app:1\n", src.addr));
    env.mirror(&dst.addr, &[]).ok();
    assert_eq!(
        Pusher::new(&dst)
            .manifest("helper/app", "1")
            .await
            .unwrap()
            .digest,
        img.manifest.digest
    );
    assert_eq!(
        std::fs::read_to_string(bin.join("asked")).unwrap().trim(),
        dst.addr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_tokens_are_traded_for_access_tokens() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::token());
    let img = images::single(1040, 5000);
    Pusher::new(&src)
        .push_image("idt/app", Some("1"), &img)
        .await;
    let env = Env::new();
    let doc = serde_json::json!({"auths": {&dst.addr: {"auth": "", "identitytoken": hangar_tests::token_server::REFRESH_TOKEN}}});
    std::fs::write(env.path("auth.json"), doc.to_string()).unwrap();
    env.write("list.txt", &format!("{}/idt/app:1\n", src.addr));
    env.mirror(&dst.addr, &[]).ok();
    assert_eq!(
        Pusher::new(&dst)
            .manifest("idt/app", "1")
            .await
            .unwrap()
            .digest,
        img.manifest.digest
    );

    let bad = serde_json::json!({"auths": {&dst.addr: {"auth": "", "identitytoken": "revoked"}}});
    std::fs::write(env.path("auth.json"), bad.to_string()).unwrap();
    let run = env.mirror(&dst.addr, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.output().contains("token request to") && run.output().contains("invalid refresh token"),
        "{}",
        run.output()
    );
}

/// Removes a directory tree when dropped (also when the test fails).
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn system_certs_d_and_client_certificates() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::mtls());
    let img = images::single(1050, 5000);
    Pusher::new(&src)
        .push_image("mtls/app", Some("1"), &img)
        .await;
    if !hangar_tests::running_as_root(
        "system_certs_d_and_client_certificates",
        "writing /etc/containers/certs.d",
    ) {
        return;
    }
    let host_dir = std::path::Path::new("/etc/containers/certs.d").join(&dst.addr);
    std::fs::create_dir_all(&host_dir).unwrap();
    let _cleanup = RemoveOnDrop(host_dir.clone());
    std::fs::copy(dst.ca_path(), host_dir.join("ca.crt")).unwrap();
    let env = Env::new();
    env.write("list.txt", &format!("{}/mtls/app:1\n", src.addr));

    // The source is plain HTTP, hence --tls-verify=false for the copy. Without a client
    // certificate the registry refuses the TLS handshake whatever the verification mode.
    let refused = env.mirror(&dst.addr, &[]);
    assert_eq!(refused.code, 1, "{}", refused.output());

    for f in ["client.cert", "client.key"] {
        std::fs::copy(dst.client_cert_dir().join(f), host_dir.join(f)).unwrap();
    }
    env.mirror(&dst.addr, &[]).ok();
    // Read back with verification on: the CA and the client certificate both come from
    // /etc/containers/certs.d/<host>/.
    let verify = env.run(&["inspect", "--raw", &format!("{}/mtls/app:1", dst.addr)]);
    verify.ok();
    assert_eq!(
        verify.stdout.as_bytes(),
        img.manifest.data.as_ref(),
        "CA and client cert from /etc/containers/certs.d"
    );
}
