//! Schema1 conversion, a 200 MB layer under a memory bound, and the registry commands
//! (inspect, list-tags, delete, merge-manifest, convert-list, completion, version).

use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Format, MultiArch, Platform};
use hangar_tests::pusher::{Pusher, seed_schema1};
use hangar_tests::registry::RegistryServer;

#[tokio::test(flavor = "multi_thread")]
async fn schema1_is_converted_to_schema2_with_real_diff_ids() {
    let (plain, s1, dst) = (
        RegistryServer::plain(),
        RegistryServer::schema1(),
        RegistryServer::plain(),
    );
    let layers = [
        images::layer(Format::Docker, 900, 20_000),
        images::layer(Format::Docker, 901, 30_000),
    ];
    // skopeo (the peer client) writes a signed schema1 manifest into the schema1 registry.
    let served = seed_schema1(&plain, &s1, &layers).await;
    assert_eq!(
        served.media_type,
        "application/vnd.docker.distribution.manifest.v1+prettyjws"
    );

    let env = Env::new();
    env.write("list.txt", &format!("{}/legacy/app:s1\n", s1.addr));
    env.mirror(&dst.addr, &[]).ok();
    let dp = Pusher::new(&dst);
    let got = dp.manifest("legacy/app", "s1").await.unwrap();
    assert_eq!(got.media_type, images::DOCKER_MANIFEST);
    let m: serde_json::Value = serde_json::from_slice(&got.bytes).unwrap();
    let layer_digests: Vec<&str> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        layer_digests,
        vec![
            layers[0].blob.digest.as_str(),
            layers[1].blob.digest.as_str()
        ]
    );
    let sizes: Vec<u64> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .collect();
    assert_eq!(
        sizes,
        vec![
            layers[0].blob.data.len() as u64,
            layers[1].blob.data.len() as u64
        ]
    );
    // The config's diff_ids are the real uncompressed digests, computed while streaming.
    assert!(
        dp.blob_exists("legacy/app", m["config"]["digest"].as_str().unwrap())
            .await
    );
    let inspect = env.run(&[
        "inspect",
        "--config",
        "--tls-verify=false",
        &format!("{}/legacy/app:s1", dst.addr),
    ]);
    inspect.ok();
    let cfg: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(
        cfg["rootfs"]["diff_ids"],
        serde_json::json!([layers[0].diff_id, layers[1].diff_id])
    );
    assert_eq!(cfg["architecture"], "amd64");

    // Re-running recognises the converted image by its layers.
    let again = env.mirror(&dst.addr, &[]);
    again.ok();
    assert!(
        again
            .output()
            .contains(&format!("up to date {}", got.digest)),
        "{}",
        again.output()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_200_mb_layer_streams_with_bounded_memory() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let big = images::layer(Format::Oci, 950, 200 << 20);
    let img = images::image(
        Format::Oci,
        Platform::new("linux", "amd64", None),
        std::slice::from_ref(&big),
    );
    Pusher::new(&src)
        .push_image("big/app", Some("1"), &img)
        .await;
    let env = Env::new();
    env.write("list.txt", &format!("{}/big/app:1\n", src.addr));
    let run = env.mirror(&dst.addr, &[]);
    run.ok();
    assert!(
        Pusher::new(&dst)
            .blob_exists("big/app", &big.blob.digest)
            .await
    );
    assert_eq!(
        Pusher::new(&dst)
            .manifest("big/app", "1")
            .await
            .unwrap()
            .digest,
        img.manifest.digest
    );
    // The layer is 200 MiB; hangar's peak RSS must stay far below it.
    assert!(
        run.max_rss_kb < 100 * 1024,
        "peak RSS {} KiB",
        run.max_rss_kb
    );
    eprintln!("peak RSS copying a 200 MiB layer: {} KiB", run.max_rss_kb);
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_list_tags_delete_and_merge_manifest() {
    let reg = RegistryServer::plain();
    let rp = Pusher::new(&reg);
    let img = MultiArch::build(960, 2000);
    rp.push_index("cmd/multi", "v1", &img.index, &img.children())
        .await;
    rp.push_image("cmd/multi", Some("amd64-only"), &img.amd64)
        .await;
    let lone = images::image(
        Format::Docker,
        Platform::new("linux", "s390x", None),
        &[images::layer(Format::Docker, 961, 100)],
    );
    rp.push_image("other/repo", Some("s390x"), &lone).await;
    let env = Env::new();
    let at = |r: &str| format!("{}/{r}", reg.addr);

    let raw = env.run(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &at("cmd/multi:v1"),
    ]);
    raw.ok();
    assert_eq!(
        raw.stdout.as_bytes(),
        img.index.data.as_ref(),
        "--raw prints the exact bytes"
    );

    let info = env.run(&[
        "inspect",
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        &at("cmd/multi:v1"),
    ]);
    info.ok();
    let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
    assert_eq!(v["Digest"], img.index.digest.as_str());
    assert_eq!(v["Architecture"], "arm64");
    assert_eq!(v["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(v["Layers"][1], img.arm64.layers[1].digest.as_str());
    assert_eq!(v["RepoTags"], serde_json::json!(["amd64-only", "v1"]));

    let tags = env.run(&["list-tags", "--tls-verify=false", &at("cmd/multi")]);
    tags.ok();
    assert_eq!(tags.stdout, "[\n  \"amd64-only\",\n  \"v1\"\n]\n");

    // merge-manifest: an image from another repository is copied in, then indexed.
    let dry = env.run(&[
        "merge-manifest",
        "--dry-run",
        "--tls-verify=false",
        &at("cmd/merged:v1"),
        &at("cmd/multi:amd64-only"),
        &at("other/repo:s390x"),
    ]);
    dry.ok();
    let planned: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(planned["manifests"].as_array().unwrap().len(), 2);
    assert!(
        rp.manifest("cmd/merged", "v1").await.is_none(),
        "dry run pushes nothing"
    );
    env.run(&[
        "merge-manifest",
        "--tls-verify=false",
        &at("cmd/merged:v1"),
        &at("cmd/multi:amd64-only"),
        &at("other/repo:s390x"),
    ])
    .ok();
    let merged = rp.manifest("cmd/merged", "v1").await.unwrap();
    let m: serde_json::Value = serde_json::from_slice(&merged.bytes).unwrap();
    let entries: Vec<(String, String)> = m["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["digest"].as_str().unwrap().to_string(),
                e["platform"]["architecture"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            (img.amd64.manifest.digest.clone(), "amd64".into()),
            (lone.manifest.digest.clone(), "s390x".into())
        ]
    );
    assert!(
        rp.manifest("cmd/merged", &lone.manifest.digest)
            .await
            .is_some(),
        "copied into the target repository"
    );
    let too_few = env.run(&["merge-manifest", &at("cmd/x:1"), &at("cmd/multi:v1")]);
    assert_eq!(too_few.code, 1);
    assert!(too_few.stderr.contains("requires at least 3 arguments"));

    // delete removes the manifest, so every tag pointing at it goes.
    let refused = env.run(&["delete", "--tls-verify=false", &at("cmd/multi:amd64-only")]);
    assert_eq!(refused.code, 1, "no TTY and no -y: refuses");
    assert!(rp.manifest("cmd/multi", "amd64-only").await.is_some());
    env.run(&[
        "delete",
        "-y",
        "--tls-verify=false",
        &at("cmd/multi:amd64-only"),
    ])
    .ok();
    assert!(rp.manifest("cmd/multi", "amd64-only").await.is_none());
    assert!(
        rp.manifest("cmd/multi", &img.amd64.manifest.digest)
            .await
            .is_none()
    );
    let missing = env.run(&["delete", "-y", "--tls-verify=false", &at("cmd/multi:nope")]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("not found"));
}

#[test]
fn convert_list_completion_and_version() {
    let env = Env::new();
    env.write("list.txt", "# comment\nnginx:1.25\nquay.io/coreos/etcd@sha256:0000000000000000000000000000000000000000000000000000000000000000\nsrc dst tag\nBAD LINE HERE X\n127.0.0.1:5000/a/b\n");
    env.run(&["convert-list", "-i", "list.txt", "-d", "reg.local:5000"])
        .ok();
    let converted = std::fs::read_to_string(env.path("list.txt.converted")).unwrap();
    assert_eq!(
        converted,
        "docker.io/library/nginx reg.local:5000/library/nginx 1.25\n\
         quay.io/coreos/etcd reg.local:5000/coreos/etcd sha256:0000000000000000000000000000000000000000000000000000000000000000\n\
         127.0.0.1:5000/a/b reg.local:5000/a/b latest\n"
    );
    // Output exists and no -y: refuses without a terminal.
    let again = env.run(&["convert-list", "-i", "list.txt"]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("list.txt.converted"),
        "{}",
        again.stderr
    );

    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = env.run(&["completion", shell]);
        run.ok();
        assert!(
            run.stdout.contains("mirror") && run.stdout.contains("list-tags"),
            "{shell}"
        );
    }
    let v = env.run(&["version"]);
    v.ok();
    assert!(
        v.stdout
            .starts_with(&format!("hangar version v{}", env!("CARGO_PKG_VERSION"))),
        "{}",
        v.stdout
    );
    let flag = env.run(&["-v"]);
    flag.ok();
    assert!(flag.stdout.contains(env!("CARGO_PKG_VERSION")));
}

/// `inspect list`: every listed image's platforms, digests and media types in Hangar's four
/// report formats; an image that is not there goes to the failed list and fails the run,
/// the report still holds the rest.
#[tokio::test(flavor = "multi_thread")]
async fn inspect_list_reports_in_every_format() {
    let reg = RegistryServer::plain();
    let rp = Pusher::new(&reg);
    let img = MultiArch::build(970, 1000);
    rp.push_index("team/multi", "v1", &img.index, &img.children())
        .await;
    let lone = images::image(
        Format::Docker,
        Platform::new("linux", "s390x", None),
        &[images::layer(Format::Docker, 971, 100)],
    );
    rp.push_image("team/lone", Some("s390x"), &lone).await;
    let env = Env::new();
    std::fs::write(
        env.path("list.txt"),
        "# what the site needs\nteam/multi:v1\nteam/lone:s390x\nteam/missing:v9\n",
    )
    .unwrap();
    let multi = format!("{}/team/multi:v1", reg.addr);
    let lone_ref = format!("{}/team/lone:s390x", reg.addr);
    let inspect = |format: &str| {
        env.run(&[
            "inspect",
            "list",
            "-f",
            "list.txt",
            "--registry",
            &reg.addr,
            "--format",
            format,
            "--tls-verify=false",
            "-j",
            "2",
            "-y",
        ])
    };

    let txt = inspect("txt");
    assert_eq!(txt.code, 1, "{}", txt.output());
    assert_eq!(
        std::fs::read_to_string(env.path("inspect-report.txt")).unwrap(),
        format!(
            "   1 | {multi} | linux/amd64,linux/arm64/v8,linux/arm/v7\n   2 | {lone_ref} | linux/s390x\n"
        )
    );
    assert_eq!(
        std::fs::read_to_string(env.path("inspect-failed.txt")).unwrap(),
        "team/missing:v9\n"
    );
    assert!(
        txt.output().contains(&format!(
            "Image [{multi}]: \"linux/amd64,linux/arm64/v8,linux/arm/v7\""
        )),
        "{}",
        txt.output()
    );

    inspect("json");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("inspect-report.json")).unwrap()).unwrap();
    assert_eq!(report["version"], "v1.2.0");
    let list = report["list"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["source"], format!("{}/team/multi", reg.addr));
    assert_eq!(list[0]["tag"], "v1");
    assert_eq!(
        list[0]["archList"],
        serde_json::json!(["amd64", "arm64", "arm"])
    );
    let specs = list[0]["images"].as_array().unwrap();
    assert_eq!(specs.len(), 3, "attestations are not platforms");
    assert_eq!(specs[1]["digest"], img.arm64.manifest.digest.as_str());
    assert_eq!(specs[1]["variant"], "v8");
    assert!(specs.iter().all(|s| s.get("layers").is_none()));
    assert_eq!(list[1]["images"][0]["config"], lone.config.digest.as_str());
    assert_eq!(
        list[1]["images"][0]["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );

    inspect("yaml");
    let yaml: serde_json::Value =
        serde_yaml::from_slice(&std::fs::read(env.path("inspect-report.yaml")).unwrap()).unwrap();
    assert_eq!(yaml["list"], report["list"]);

    inspect("csv");
    let csv = std::fs::read_to_string(env.path("inspect-report.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "image,digest,platform,osVersion,osFeature,mediaType"
    );
    assert_eq!(rows.len(), 5, "{csv}");
    assert_eq!(
        rows[2],
        format!(
            "{multi},{},linux/arm64/v8,,,application/vnd.oci.image.manifest.v1+json",
            img.arm64.manifest.digest
        )
    );
    assert_eq!(
        rows[4],
        format!(
            "{lone_ref},{},linux/s390x,,,application/vnd.docker.distribution.manifest.v2+json",
            lone.manifest.digest
        )
    );

    // Unknown formats are txt (as Hangar), -r names the report, and without a list the run
    // says what is missing.
    std::fs::write(env.path("list.txt"), "team/lone:s390x\n").unwrap();
    let other = env.run(&[
        "inspect",
        "list",
        "-f",
        "list.txt",
        "--registry",
        &reg.addr,
        "--format",
        "xml",
        "-r",
        "lone.report",
        "--tls-verify=false",
    ]);
    assert_eq!(other.code, 0, "{}", other.output());
    assert_eq!(
        std::fs::read_to_string(env.path("lone.report")).unwrap(),
        format!("   1 | {lone_ref} | linux/s390x\n")
    );
    assert!(
        !env.path("inspect-failed.txt").exists(),
        "a clean run removes the stale failed list"
    );
    env.run(&["inspect", "list"])
        .fails_with("image list not provided");
}
