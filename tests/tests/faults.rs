//! Fault injection: a proxy in front of a real registry resets connections, answers 500
//! and 429, truncates and corrupts bodies, or serves things no registry should. Mirror must
//! end with identical digests, or fail that image with one clear line, and must never leave
//! a blob with a wrong digest at the destination.

use bytes::Bytes;
use hangar_tests::fault_proxy::{Fault, FaultProxy, Rule};
use hangar_tests::hangar::Env;
use hangar_tests::images::{self, MultiArch};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;

fn rule(method: &'static str, path: &str, fault: Fault, times: usize) -> Rule {
    Rule {
        method,
        path_contains: path.to_string(),
        fault,
        times,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_faults_are_survived_with_identical_digests() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let img = MultiArch::build(800, 300_000);
    Pusher::new(&src)
        .push_index("flaky/app", "v1", &img.index, &img.children())
        .await;
    let src_proxy = FaultProxy::start(&src.addr);
    let dst_proxy = FaultProxy::start(&dst.addr);
    let layer = |i: usize| img.amd64.layers[i].digest.clone();
    let arm_layer = img.arm64.layers[1].digest.clone();
    src_proxy.add(rule(
        "GET",
        &format!("/blobs/{}", layer(0)),
        Fault::Reset,
        2,
    ));
    src_proxy.add(rule(
        "GET",
        &format!("/blobs/{}", layer(1)),
        Fault::Truncate,
        2,
    ));
    src_proxy.add(rule(
        "GET",
        &format!("/blobs/{arm_layer}"),
        Fault::Corrupt,
        2,
    ));
    src_proxy.add(rule("GET", "/manifests/v1", Fault::Status(503), 2));
    src_proxy.add(rule(
        "GET",
        &format!("/blobs/{}", img.arm64.config.digest),
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    ));
    dst_proxy.add(rule("PUT", "/blobs/uploads/", Fault::Status(500), 2));
    dst_proxy.add(rule("POST", "/blobs/uploads/", Fault::Reset, 1));

    let env = Env::new();
    env.write("list.txt", &format!("{}/flaky/app:v1\n", src_proxy.addr));
    let started = std::time::Instant::now();
    let run = env.mirror(&dst_proxy.addr, &["-a", "", "--os", ""]);
    run.ok();
    assert_eq!(src_proxy.pending_rules(), 0, "every source fault fired");
    assert_eq!(
        dst_proxy.pending_rules(),
        0,
        "every destination fault fired"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After was honoured"
    );
    let out = run.output();
    assert!(
        out.contains("digest mismatch") && out.contains("restarting the blob from the source"),
        "{out}"
    );

    let dp = Pusher::new(&dst);
    assert_eq!(
        dp.manifest("flaky/app", "v1").await.unwrap().digest,
        img.index.digest
    );
    for child in img.children() {
        for b in child.blobs() {
            assert!(dp.blob_exists("flaky/app", &b.digest).await);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_that_keeps_lying_fails_the_image_and_writes_nothing_wrong() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let good = images::single(810, 50_000);
    let bad = images::single(811, 50_000);
    let sp = Pusher::new(&src);
    sp.push_image("ok/app", Some("1"), &good).await;
    sp.push_image("bad/app", Some("1"), &bad).await;
    let proxy = FaultProxy::start(&src.addr);
    let bad_layer = bad.layers[0].digest.clone();
    proxy.add(rule(
        "GET",
        &format!("/blobs/{bad_layer}"),
        Fault::Corrupt,
        1000,
    ));

    let env = Env::new();
    env.write(
        "list.txt",
        &format!("{0}/bad/app:1\n{0}/ok/app:1\n", proxy.addr),
    );
    let run = env.mirror(&dst.addr, &[]);
    assert_eq!(run.code, 1);
    let out = run.output();
    assert!(
        out.contains("digest mismatch") && out.contains(&bad_layer),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("mirror-failed.txt")).unwrap(),
        format!("{}/bad/app:1\n", proxy.addr)
    );
    let dp = Pusher::new(&dst);
    assert!(
        !dp.blob_exists("bad/app", &bad_layer).await,
        "a blob with a wrong digest was stored"
    );
    assert!(dp.manifest("bad/app", "1").await.is_none());
    assert_eq!(
        dp.manifest("ok/app", "1").await.unwrap().digest,
        good.manifest.digest,
        "the other image still copied"
    );
    // Bounded: the blob was tried a handful of times, not forever.
    let tries = proxy
        .log()
        .iter()
        .filter(|l| l.starts_with("GET") && l.contains(&bad_layer))
        .count();
    assert!((2..=6).contains(&tries), "{tries} attempts");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_one_clear_line_per_image_and_the_run_continues() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let good = images::single(820, 1000);
    let sp = Pusher::new(&src);
    for repo in ["ok/app", "weird/type", "broken/json", "huge/manifest"] {
        sp.push_image(repo, Some("1"), &good).await;
    }
    let proxy = FaultProxy::start(&src.addr);
    proxy.add(rule(
        "GET",
        "/weird/type/manifests/1",
        Fault::Replace {
            content_type: "application/vnd.example.thing.v1+json".into(),
            body: Bytes::from_static(
                br#"{"schemaVersion":2,"mediaType":"application/vnd.example.thing.v1+json"}"#,
            ),
        },
        100,
    ));
    proxy.add(rule(
        "GET",
        "/broken/json/manifests/1",
        Fault::Replace {
            content_type: images::OCI_MANIFEST.into(),
            body: Bytes::from_static(br#"{"schemaVersion":2,"config":{"digest":"#),
        },
        100,
    ));
    let mut huge = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"x":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 5 << 20));
    huge.extend(br#""}}"#);
    proxy.add(rule(
        "GET",
        "/huge/manifest/manifests/1",
        Fault::Replace {
            content_type: images::OCI_MANIFEST.into(),
            body: Bytes::from(huge),
        },
        100,
    ));
    let closed = hangar_tests::free_port();

    let env = Env::new();
    env.write(
        "list.txt",
        &format!(
            "{0}/weird/type:1\n{0}/broken/json:1\n{0}/huge/manifest:1\n127.0.0.1:{closed}/gone/app:1\n{0}/missing/app:1\n{0}/ok/app:1\n",
            proxy.addr
        ),
    );
    let run = env.mirror(&dst.addr, &["-j", "2"]);
    assert_eq!(run.code, 1);
    let out = run.output();
    let failures: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("error occurred when copy"))
        .collect();
    assert_eq!(failures.len(), 5, "{out}");
    let find = |needle: &str| {
        failures
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {out}"))
            .to_string()
    };
    assert!(
        find("weird/type")
            .contains(r#"unsupported MIME type "application/vnd.example.thing.v1+json""#)
    );
    assert!(find("broken/json").contains("malformed manifest"));
    assert!(find("huge/manifest").contains("larger than 4 MiB"));
    assert!(find("gone/app").contains(&format!("cannot reach 127.0.0.1:{closed}")));
    assert!(find("missing/app").contains("not found"));
    assert!(
        !out.contains("panicked") && !out.contains("Error {"),
        "no panics or Debug dumps: {out}"
    );
    assert_eq!(
        Pusher::new(&dst)
            .manifest("ok/app", "1")
            .await
            .unwrap()
            .digest,
        good.manifest.digest
    );
    // 404 is never retried: the missing manifest was asked for once.
    let asked = proxy
        .log()
        .iter()
        .filter(|l| l.starts_with("GET /v2/missing/app/manifests/1"))
        .count();
    assert_eq!(asked, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_and_unreadable_lists() {
    let env = Env::new();
    let run = env.run(&["mirror", "--bogus"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--bogus"), "{}", run.stderr);
    let run = env.run(&["mirror", "-f", "nope.txt", "-d", "127.0.0.1:1"]);
    assert_eq!(run.code, 1);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("ERRO"))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("cannot read image list nope.txt") && line.contains("No such file"),
        "{}",
        run.stderr
    );
    let run = env.run(&["mirror", "-d", "127.0.0.1:1"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("file not provided"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_refusing_monolithic_uploads_gets_chunked_ones() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let img = images::single(830, 10 << 20);
    Pusher::new(&src)
        .push_image("chunk/app", Some("1"), &img)
        .await;
    let proxy = FaultProxy::start(&dst.addr);
    // A body-size limit in front of the registry: every PUT carrying a body gets 413; the
    // commit PUT of a chunked upload has none.
    proxy.add(rule(
        "PUT",
        "/blobs/uploads/",
        Fault::RefuseBodies(413),
        1000,
    ));
    let env = Env::new();
    env.write("list.txt", &format!("{}/chunk/app:1\n", src.addr));
    let run = env.mirror(&proxy.addr, &[]);
    run.ok();
    let log = proxy.log();
    // Config in one chunk, the 10 MiB layer in two (8 MiB pieces).
    let patches = log
        .iter()
        .filter(|l| l.starts_with("PATCH /v2/chunk/app/blobs/uploads/"))
        .count();
    assert_eq!(patches, 3, "{log:?}");
    let dp = Pusher::new(&dst);
    assert_eq!(
        dp.manifest("chunk/app", "1").await.unwrap().digest,
        img.manifest.digest
    );
    for b in img.blobs() {
        assert!(dp.blob_exists("chunk/app", &b.digest).await);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_mount_falls_back_to_uploading_through_the_same_session() {
    let reg = RegistryServer::plain();
    let img = images::single(840, 20_000);
    Pusher::new(&reg)
        .push_image("mnt/src", Some("1"), &img)
        .await;
    let proxy = FaultProxy::start(&reg.addr);
    proxy.add(rule("POST", "mount=", Fault::DropQuery, 1000));
    let env = Env::new();
    env.write(
        "list.txt",
        &format!("{0}/mnt/src:1 {0}/mnt/dst 1\n", proxy.addr),
    );
    let run = env.run(&[
        "mirror",
        "-f",
        "list.txt",
        "--tls-verify=false",
        "--log-format",
        "json",
    ]);
    run.ok();
    let how: Vec<String> = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "blob_finished")
        .map(|v| v["how"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        how,
        vec!["copied", "copied"],
        "declined mounts are uploaded instead"
    );
    let log = proxy.log();
    let posts = log.iter().filter(|l| l.starts_with("POST ")).count();
    assert_eq!(
        posts, 2,
        "one session per blob: the declined mount's session is reused: {log:?}"
    );
    let dp = Pusher::new(&reg);
    assert_eq!(
        dp.manifest("mnt/dst", "1").await.unwrap().digest,
        img.manifest.digest
    );
    for b in img.blobs() {
        assert!(dp.blob_exists("mnt/dst", &b.digest).await);
    }
}

/// Soak: 200 images through proxies that hit about 2% of requests on both sides with
/// transient faults (resets, truncated bodies, 5xx, 429) drawn from a seed (printed; set
/// HANGAR_SOAK_SEED to replay). Every image arrives with its digests, every blob at the
/// destination hashes to its digest, and the faults cost a bounded number of extra requests
/// compared with the same mirror without faults.
#[tokio::test(flavor = "multi_thread")]
async fn soak_two_hundred_images_through_random_faults() {
    let seed: u64 = std::env::var("HANGAR_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("soak faults seeded with HANGAR_SOAK_SEED={seed}");
    let src = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let mut list = String::new();
    let mut expected: Vec<(String, String, Vec<String>)> = Vec::new();
    let source_proxy = FaultProxy::start(&src.addr);
    for n in 0..200u64 {
        let repo = format!("soak/app{n}");
        if n % 20 == 0 {
            let multi = MultiArch::build(20_000 + n * 10, 30_000);
            sp.push_index(&repo, "1", &multi.index, &multi.children())
                .await;
            let blobs = multi
                .children()
                .iter()
                .flat_map(|c| c.blobs().map(|b| b.digest.clone()))
                .collect();
            expected.push((repo.clone(), multi.index.digest.clone(), blobs));
        } else {
            let image = images::single(20_000 + n * 10, 8_000 + (n as usize % 7) * 3_000);
            sp.push_image(&repo, Some("1"), &image).await;
            let blobs = image.blobs().map(|b| b.digest.clone()).collect();
            expected.push((repo.clone(), image.manifest.digest.clone(), blobs));
        }
        list.push_str(&format!("{}/{repo}:1\n", source_proxy.addr));
    }
    let env = Env::new();
    env.write("list.txt", &list);
    let all = ["-a", "", "--os", "", "-j", "8"];

    // Without faults: how many requests the mirror takes.
    let calm = RegistryServer::plain();
    let calm_proxy = FaultProxy::start(&calm.addr);
    env.mirror(&calm_proxy.addr, &all).ok();
    let calm_requests = source_proxy.log().len() + calm_proxy.log().len();
    source_proxy.clear_log();

    let dst = RegistryServer::plain();
    let dst_proxy = FaultProxy::start(&dst.addr);
    source_proxy.chaos(seed, 20);
    dst_proxy.chaos(seed ^ 0x9e37_79b9_7f4a_7c15, 20);
    let run = env.mirror(&dst_proxy.addr, &all);
    let injected = source_proxy.injected().len() + dst_proxy.injected().len();
    let requests = source_proxy.log().len() + dst_proxy.log().len();
    eprintln!(
        "soak: {injected} faults injected; {requests} requests (without faults: {calm_requests})"
    );
    run.ok();
    assert!(
        injected >= 20,
        "only {injected} faults: the soak did not soak"
    );

    let dp = Pusher::new(&dst);
    let mut blobs_checked = 0;
    for (repo, digest, blobs) in &expected {
        let got = dp.manifest(repo, "1").await.expect("every image arrived");
        assert_eq!(&got.digest, digest, "{repo}");
        for blob in blobs {
            let bytes = dp.blob(repo, blob).await;
            assert_eq!(&images::sha256(&bytes), blob, "{repo}: a corrupt blob");
            blobs_checked += 1;
        }
    }
    eprintln!(
        "soak: {} images, {blobs_checked} blobs hash to their digests",
        expected.len()
    );
    assert!(
        requests <= calm_requests + 12 * injected && requests <= calm_requests * 2,
        "{requests} requests for {injected} faults (without faults: {calm_requests})"
    );
}
