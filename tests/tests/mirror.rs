//! `hangar mirror` against real registries: digests at the destination, index rules, skip
//! logic, the failed list and bad input.

use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Format, MultiArch, Platform};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;

fn index_digests(bytes: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect()
}

fn index_platforms(bytes: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut s = format!(
                "{}/{}",
                p["os"].as_str().unwrap_or(""),
                p["architecture"].as_str().unwrap_or("")
            );
            if let Some(v) = p["variant"].as_str() {
                s.push('/');
                s.push_str(v);
            }
            s
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn index_kept_whole_is_pushed_byte_for_byte() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let (sp, dp) = (Pusher::new(&src), Pusher::new(&dst));
    let img = MultiArch::build(100, 4096);
    sp.push_index("test/multi", "v1", &img.index, &img.children())
        .await;

    let env = Env::new();
    env.write("list.txt", &format!("{}/test/multi:v1\n", src.addr));
    let run = env.mirror(
        &dst.addr,
        &["-a", "amd64,arm64,arm", "--os", "linux,unknown"],
    );
    run.ok();

    let got = dp
        .manifest("test/multi", "v1")
        .await
        .expect("destination tag exists");
    assert_eq!(got.digest, img.index.digest, "index digest preserved");
    assert_eq!(got.bytes, img.index.data, "index bytes identical");
    for child in img.children() {
        let m = dp
            .manifest("test/multi", &child.manifest.digest)
            .await
            .expect("child manifest copied");
        assert_eq!(m.bytes, child.manifest.data);
        for b in child.blobs() {
            assert!(
                dp.blob_exists("test/multi", &b.digest).await,
                "blob {} copied",
                b.digest
            );
        }
    }
    // No per-platform tags (Hangar adds TAG-os-arch tags; we do not).
    assert_eq!(dp.tags("test/multi").await, vec!["v1"]);
    assert!(!env.path("mirror-failed.txt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn filtered_subset_builds_and_merges_an_oci_index() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let (sp, dp) = (Pusher::new(&src), Pusher::new(&dst));
    let img = MultiArch::build(200, 2048);
    sp.push_index("test/multi", "v1", &img.index, &img.children())
        .await;
    let env = Env::new();
    env.write("list.txt", &format!("{}/test/multi:v1\n", src.addr));

    // Default filter: amd64,arm64 on linux, with provenance.
    env.mirror(&dst.addr, &[]).ok();
    let got = dp.manifest("test/multi", "v1").await.unwrap();
    assert_eq!(got.media_type, images::OCI_INDEX);
    assert_ne!(got.digest, img.index.digest);
    let digests = index_digests(&got.bytes);
    assert_eq!(
        digests,
        vec![
            img.amd64.manifest.digest.clone(),
            img.arm64.manifest.digest.clone(),
            img.attestations[0].manifest.digest.clone(),
            img.attestations[1].manifest.digest.clone(),
        ]
    );
    assert!(
        dp.manifest("test/multi", &img.armv7.manifest.digest)
            .await
            .is_none(),
        "arm/v7 not copied"
    );
    assert_eq!(dp.tags("test/multi").await, vec!["v1"], "no extra tags");

    // Adding arm later merges into the existing index.
    env.mirror(&dst.addr, &["-a", "arm"]).ok();
    let merged = dp.manifest("test/multi", "v1").await.unwrap();
    let platforms = index_platforms(&merged.bytes);
    assert!(
        platforms.contains(&"linux/amd64".to_string()),
        "{platforms:?}"
    );
    assert!(
        platforms.contains(&"linux/arm64/v8".to_string()),
        "{platforms:?}"
    );
    assert!(
        platforms.contains(&"linux/arm/v7".to_string()),
        "{platforms:?}"
    );
    assert_eq!(index_digests(&merged.bytes).len(), 5);

    // --overwrite replaces instead of merging; --provenance=false drops attestations.
    env.mirror(
        &dst.addr,
        &["-a", "arm64", "--overwrite", "--provenance=false"],
    )
    .ok();
    let replaced = dp.manifest("test/multi", "v1").await.unwrap();
    assert_eq!(
        index_digests(&replaced.bytes),
        vec![img.arm64.manifest.digest.clone()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_list_v2s2_and_oci_images_keep_their_digests() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let (sp, dp) = (Pusher::new(&src), Pusher::new(&dst));
    let shared = images::layer(Format::Docker, 300, 3000);
    let d_amd = images::image(
        Format::Docker,
        Platform::new("linux", "amd64", None),
        &[shared.clone(), images::layer(Format::Docker, 301, 100)],
    );
    let d_arm = images::image(
        Format::Docker,
        Platform::new("linux", "arm64", None),
        &[shared.clone(), images::layer(Format::Docker, 302, 100)],
    );
    let list = images::index(Format::Docker, &[d_amd.clone(), d_arm.clone()]);
    sp.push_index("docker/list", "1.0", &list, &[&d_amd, &d_arm])
        .await;
    let v2s2 = images::image(
        Format::Docker,
        Platform::new("linux", "amd64", None),
        std::slice::from_ref(&shared),
    );
    sp.push_image("docker/single", Some("2.0"), &v2s2).await;
    let oci = images::image(
        Format::Oci,
        Platform::new("linux", "arm64", None),
        &[images::layer(Format::Oci, 303, 500)],
    );
    sp.push_image("oci/single", Some("3.0"), &oci).await;
    let by_digest = format!("{}/oci/single@{}", src.addr, oci.manifest.digest);

    let env = Env::new();
    env.write(
        "list.txt",
        &format!("# sample list\n{0}/docker/list:1.0\n\n{0}/docker/single:2.0\n// other comment\n{0}/oci/single:3.0\n{by_digest}\n", src.addr),
    );
    let run = env.mirror(&dst.addr, &["-j", "3"]);
    run.ok();
    let got = dp.manifest("docker/list", "1.0").await.unwrap();
    assert_eq!(
        (got.digest.as_str(), got.media_type.as_str()),
        (list.digest.as_str(), images::DOCKER_LIST)
    );
    let got = dp.manifest("docker/single", "2.0").await.unwrap();
    assert_eq!(
        (got.digest.as_str(), got.media_type.as_str()),
        (v2s2.manifest.digest.as_str(), images::DOCKER_MANIFEST)
    );
    let got = dp.manifest("oci/single", "3.0").await.unwrap();
    assert_eq!(got.digest, oci.manifest.digest);
    assert!(
        dp.manifest("oci/single", &oci.manifest.digest)
            .await
            .is_some()
    );

    // The second run finds everything in place and copies nothing.
    let again = env.mirror(&dst.addr, &["-j", "3"]);
    again.ok();
    assert_eq!(
        again.output().matches(": up to date sha256:").count(),
        4,
        "{}",
        again.output()
    );
    assert!(
        again.output().contains("copied 0, up to date 4"),
        "{}",
        again.output()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_listed_in_order_and_a_clean_run_removes_the_stale_list() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let sp = Pusher::new(&src);
    let ok = images::single(400, 100);
    sp.push_image("good/one", Some("1"), &ok).await;
    let env = Env::new();
    let list = format!(
        "{0}/missing/b:1\n{0}/good/one:1\nTEST INVALID IMAGE LIST LINE\n{0}/missing/a:2\nUPPER/Case:1\n",
        src.addr
    );
    env.write("list.txt", &list);
    let run = env.mirror(&dst.addr, &["-j", "4", "-o", "failed.txt"]);
    assert_eq!(run.code, 1, "{}", run.output());
    let failed = std::fs::read_to_string(env.path("failed.txt")).unwrap();
    assert_eq!(
        failed,
        format!("{0}/missing/b:1\n{0}/missing/a:2\n", src.addr),
        "failed lines in list order"
    );
    let out = run.output();
    assert!(
        out.contains("image list line 3"),
        "invalid line warned with its number: {out}"
    );
    assert!(out.contains("image list line 5"), "{out}");
    assert!(
        out.contains(&format!("{}/missing/b", src.addr)) && out.contains("not found"),
        "{out}"
    );
    assert!(out.contains("some images failed to copy"), "{out}");
    assert!(
        Pusher::new(&dst).manifest("good/one", "1").await.is_some(),
        "the good image still copied"
    );

    // Feeding back only the good image succeeds and removes the stale failed list.
    env.write("list.txt", &format!("{}/good/one:1\n", src.addr));
    env.mirror(&dst.addr, &["-o", "failed.txt"]).ok();
    assert!(!env.path("failed.txt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn mirror_format_lines_go_to_the_registry_column_two_names() {
    let (src, dst, other) = (
        RegistryServer::plain(),
        RegistryServer::plain(),
        RegistryServer::plain(),
    );
    let sp = Pusher::new(&src);
    let a = images::single(500, 100);
    sp.push_image("proj/app", Some("ignored"), &a).await;
    sp.push_image("proj/app", Some("v9"), &a).await;
    let env = Env::new();
    env.write(
        "list.txt",
        &format!(
            "{0}/proj/app  {1}/moved/app v9\n{0}/proj/app renamed/app v9\n",
            src.addr, other.addr
        ),
    );
    env.mirror(&dst.addr, &["--destination-project", "airgap"])
        .ok();
    // Column 2's registry is honoured; the project override applies to it too.
    assert_eq!(
        Pusher::new(&other)
            .manifest("airgap/app", "v9")
            .await
            .unwrap()
            .digest,
        a.manifest.digest
    );
    // Without a registry in column 2 the line goes to -d.
    assert_eq!(
        Pusher::new(&dst)
            .manifest("airgap/app", "v9")
            .await
            .unwrap()
            .digest,
        a.manifest.digest
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_writes_nothing() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let img = MultiArch::build(600, 1000);
    Pusher::new(&src)
        .push_index("test/multi", "v1", &img.index, &img.children())
        .await;
    let env = Env::new();
    env.write("list.txt", &format!("{}/test/multi:v1\n", src.addr));
    let run = env.mirror(&dst.addr, &["--dry-run"]);
    run.ok();
    assert!(
        run.output()
            .contains("would copy a new index [linux/amd64,linux/arm64/v8]"),
        "{}",
        run.output()
    );
    assert!(!run.output().contains("Copying"), "{}", run.output());
    // A line that would fail: reported, but no failed list written, and a stale one stays.
    env.write(
        "list.txt",
        &format!("{0}/test/multi:v1\n{0}/test/multi:missing\n", src.addr),
    );
    let failing = env.mirror(&dst.addr, &["--dry-run"]);
    assert_eq!(failing.code, 1, "{}", failing.output());
    assert!(
        failing.output().contains("would fail"),
        "{}",
        failing.output()
    );
    assert!(!env.path("mirror-failed.txt").exists());
    env.write("mirror-failed.txt", "stale\n");
    env.write("list.txt", &format!("{}/test/multi:v1\n", src.addr));
    env.mirror(&dst.addr, &["--dry-run"]).ok();
    assert_eq!(
        std::fs::read_to_string(env.path("mirror-failed.txt")).unwrap(),
        "stale\n"
    );
    assert!(
        Pusher::new(&dst)
            .manifest("test/multi", "v1")
            .await
            .is_none()
    );
    assert!(
        !Pusher::new(&dst)
            .blob_exists("test/multi", &img.amd64.config.digest)
            .await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn largest_images_start_first_and_a_no_op_rerun_costs_one_get_one_head_and_one_tag_listing_per_image()
 {
    use hangar_tests::fault_proxy::FaultProxy;
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let sp = Pusher::new(&src);
    sp.push_image("order/small-a", Some("1"), &images::single(1100, 1000))
        .await;
    sp.push_image("order/small-b", Some("1"), &images::single(1101, 1000))
        .await;
    let big = images::image(
        Format::Oci,
        Platform::new("linux", "amd64", None),
        &[images::layer(Format::Oci, 1102, 3 << 20)],
    );
    sp.push_image("order/big", Some("1"), &big).await;
    let multi = MultiArch::build(1103, 2000);
    sp.push_index("order/multi", "1", &multi.index, &multi.children())
        .await;
    let (src_proxy, dst_proxy) = (FaultProxy::start(&src.addr), FaultProxy::start(&dst.addr));
    let env = Env::new();
    env.write(
        "list.txt",
        &format!(
            "{0}/order/small-a:1\n{0}/order/small-b:1\n{0}/order/multi:1\n{0}/order/big:1\n",
            src_proxy.addr
        ),
    );
    let args = [
        "mirror",
        "-f",
        "list.txt",
        "-d",
        &dst_proxy.addr,
        "--tls-verify=false",
        "-j",
        "2",
        "--log-format",
        "json",
    ];
    let run = env.run(&args);
    run.ok();
    let started: Vec<String> = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "image_started")
        .map(|v| {
            v["source"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        started[0], "big:1",
        "the largest image starts first: {started:?}"
    );
    // The failed list and summary still follow the list, whatever the start order.
    assert_eq!(
        Pusher::new(&dst)
            .manifest("order/big", "1")
            .await
            .unwrap()
            .digest,
        big.manifest.digest
    );

    src_proxy.clear_log();
    dst_proxy.clear_log();
    let again = env.run(&args);
    again.ok();
    // Besides `/v2/`, the registry adapters' detection (one Harbor ping per destination
    // registry and run, not per image) is left out.
    let requests = |p: &FaultProxy| {
        p.log()
            .into_iter()
            .filter(|l| !l.ends_with(" /v2/") && !l.starts_with("GET /api/v2.0/ping"))
            .collect::<Vec<_>>()
    };
    let (src_log, dst_log) = (requests(&src_proxy), requests(&dst_proxy));
    // Attachments (signatures, attestations, referrers) are looked for in one tag listing per
    // source repository, plus a probe for the referrers API until the registry has answered
    // that it has none (once per worker at most).
    let (listings, rest): (Vec<&String>, Vec<&String>) =
        src_log.iter().partition(|l| l.contains("/tags/list"));
    let (probes, manifests): (Vec<&String>, Vec<&String>) =
        rest.into_iter().partition(|l| l.contains("/referrers/"));
    assert_eq!(
        listings.len(),
        4,
        "one tag listing per repository: {src_log:?}"
    );
    assert!((1..=2).contains(&probes.len()), "{src_log:?}");
    assert_eq!(
        manifests.len(),
        4,
        "one manifest GET per image at the source: {src_log:?}"
    );
    assert!(
        manifests
            .iter()
            .all(|l| l.starts_with("GET ") && l.contains("/manifests/1")),
        "{src_log:?}"
    );
    // The filtered multi-arch image is judged by its merged index (one GET); the others by
    // one HEAD each.
    let mut dst_log = dst_log;
    dst_log.sort();
    assert_eq!(
        dst_log,
        vec![
            "GET /v2/order/multi/manifests/1".to_string(),
            "HEAD /v2/order/big/manifests/1".into(),
            "HEAD /v2/order/small-a/manifests/1".into(),
            "HEAD /v2/order/small-b/manifests/1".into(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_merging_into_one_tag_keep_each_others_platforms() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let sp = Pusher::new(&src);
    let plat = |arch: &str, variant: Option<&str>, seed| {
        images::image(
            Format::Oci,
            Platform::new("linux", arch, variant),
            &[images::layer(Format::Oci, seed, 500)],
        )
    };
    // Two sources, each with a platform the filter drops, so each line builds a merged index.
    let (amd, arm64, v7a, v7b) = (
        plat("amd64", None, 1300),
        plat("arm64", Some("v8"), 1301),
        plat("arm", Some("v7"), 1302),
        plat("arm", Some("v7"), 1303),
    );
    let a = images::index(Format::Oci, &[amd.clone(), v7a.clone()]);
    let b = images::index(Format::Oci, &[arm64.clone(), v7b.clone()]);
    sp.push_index("merge/a", "1", &a, &[&amd, &v7a]).await;
    sp.push_index("merge/b", "1", &b, &[&arm64, &v7b]).await;
    let env = Env::new();
    env.write(
        "list.txt",
        &format!(
            "{0}/merge/a:1 {1}/merged/app 1\n{0}/merge/b:1 {1}/merged/app 1\n",
            src.addr, dst.addr
        ),
    );
    env.run(&["mirror", "-f", "list.txt", "--tls-verify=false", "-j", "2"])
        .ok();
    let got = Pusher::new(&dst).manifest("merged/app", "1").await.unwrap();
    let mut digests = index_digests(&got.bytes);
    digests.sort();
    let mut want = vec![amd.manifest.digest.clone(), arm64.manifest.digest.clone()];
    want.sort();
    assert_eq!(
        digests, want,
        "both lines' platforms are in the merged index"
    );
    // Merging is idempotent: a re-run finds both lines up to date and leaves the digest alone.
    let again = env.run(&["mirror", "-f", "list.txt", "--tls-verify=false", "-j", "2"]);
    again.ok();
    assert!(
        again.output().contains("copied 0, up to date 2"),
        "{}",
        again.output()
    );
    assert_eq!(
        Pusher::new(&dst)
            .manifest("merged/app", "1")
            .await
            .unwrap()
            .digest,
        got.digest
    );
}
