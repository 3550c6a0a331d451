//! `hangar load`: archive → registry, streamed from the zip entries and checked on the
//! destination by digest; plus `load validate`, selection by list, and a corrupted archive.

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
        .map(|d| d["digest"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn load_pushes_every_platform_by_digest_and_merges_the_tag() {
    let src = RegistryServer::plain();
    let dst = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let dp = Pusher::new(&dst);
    let multi = MultiArch::build(3100, 300_000);
    sp.push_index("test/multi", "v1", &multi.index, &multi.children())
        .await;
    let single = images::image(
        Format::Docker,
        Platform::new("linux", "amd64", None),
        &[images::layer(Format::Docker, 3200, 40_000)],
    );
    sp.push_image("test/single", Some("1"), &single).await;
    let env = Env::new();
    env.write(
        "list.txt",
        &format!("{0}/test/multi:v1\n{0}/test/single:1\n", src.addr),
    );
    // amd64 first, then arm64 into the same archive name: the second load must merge.
    env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "amd64.zip",
        "--tls-verify=false",
        "-a",
        "amd64",
    ])
    .ok();
    env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "arm64.zip",
        "--tls-verify=false",
        "-a",
        "arm64",
    ])
    .ok();

    let before = env.run(&[
        "load",
        "validate",
        "-s",
        "amd64.zip",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "-a",
        "amd64",
    ]);
    assert_eq!(before.code, 1, "{}", before.output());
    assert!(
        before.output().contains("destination image does not exist"),
        "{}",
        before.output()
    );

    let run = env.run(&[
        "load",
        "-s",
        "amd64.zip",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "-j",
        "2",
        "-a",
        "amd64",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    for child in [&multi.amd64, &multi.attestations[0], &single] {
        let got = dp
            .manifest(
                if child.manifest.digest == single.manifest.digest {
                    "test/single"
                } else {
                    "test/multi"
                },
                &child.manifest.digest,
            )
            .await
            .expect("platform manifest pushed by digest");
        assert_eq!(got.bytes, child.manifest.data, "same bytes, same digest");
        for blob in child.blobs() {
            let repo = if child.manifest.digest == single.manifest.digest {
                "test/single"
            } else {
                "test/multi"
            };
            assert!(
                dp.blob_exists(repo, &blob.digest).await,
                "{} in {repo}",
                blob.digest
            );
        }
    }
    let top = dp.manifest("test/multi", "v1").await.unwrap();
    assert_eq!(top.media_type, images::OCI_INDEX);
    assert_eq!(
        index_digests(&top.bytes),
        vec![
            multi.amd64.manifest.digest.clone(),
            multi.attestations[0].manifest.digest.clone()
        ]
    );
    assert!(
        dp.manifest("test/multi", &multi.arm64.manifest.digest)
            .await
            .is_none()
    );

    env.run(&[
        "load",
        "-s",
        "arm64.zip",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "-a",
        "arm64",
    ])
    .ok();
    let top = dp.manifest("test/multi", "v1").await.unwrap();
    let mut got = index_digests(&top.bytes);
    got.sort();
    let mut want: Vec<String> = [
        &multi.amd64,
        &multi.arm64,
        &multi.attestations[0],
        &multi.attestations[1],
    ]
    .iter()
    .map(|i| i.manifest.digest.clone())
    .collect();
    want.sort();
    assert_eq!(got, want, "the arm64 load merged into the amd64 index");
    let validate = env.run(&[
        "load",
        "validate",
        "-s",
        "arm64.zip",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "-a",
        "amd64,arm64",
    ]);
    assert_eq!(validate.code, 0, "{}", validate.output());
    assert_eq!(
        validate.output().matches("PASS: [").count(),
        1,
        "{}",
        validate.output()
    );

    // Re-running is a no-op on an index that already has everything.
    let again = env.run(&[
        "load",
        "-s",
        "arm64.zip",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "-a",
        "arm64",
    ]);
    assert_eq!(again.code, 0);
    assert_eq!(
        dp.manifest("test/multi", "v1").await.unwrap().digest,
        top.digest
    );

    // Selection by list with --source-registry and --project; a line not in the archive fails
    // with its own text, loaded images are recorded as source:tag.
    env.write(
        "pick.txt",
        "example.com/test/single:1\nexample.com/test/absent:9\n",
    );
    let pick = env.run(&[
        "load",
        "-s",
        "amd64.zip",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "-f",
        "pick.txt",
        "--source-registry",
        &src.addr,
        "--project",
        "moved",
    ]);
    assert_eq!(pick.code, 1, "{}", pick.output());
    assert_eq!(
        std::fs::read_to_string(env.path("load-failed.txt")).unwrap(),
        "example.com/test/absent:9\n"
    );
    let moved = dp
        .manifest("moved/single", "1")
        .await
        .expect("loaded under the new project");
    // A single manifest arrives as itself (same digest), never wrapped in an index.
    assert_eq!(moved.digest, single.manifest.digest);
}

/// A layer whose bytes were changed inside the archive is never pushed: the image fails
/// naming the blob, the destination does not have it, and other images still load.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_blob_is_refused_and_never_pushed() {
    let src = RegistryServer::plain();
    let dst = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let dp = Pusher::new(&dst);
    let bad = images::single(3300, 200_000);
    let good = images::single(3400, 50_000);
    sp.push_image("test/bad", Some("1"), &bad).await;
    sp.push_image("test/good", Some("1"), &good).await;
    let env = Env::new();
    env.write(
        "list.txt",
        &format!("{0}/test/bad:1\n{0}/test/good:1\n", src.addr),
    );
    env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "a.zip",
        "--tls-verify=false",
    ])
    .ok();
    // Flip one byte in the middle of the bad image's layer, in place (the zip stays valid
    // as a container; only the content is wrong).
    let mut bytes = std::fs::read(env.path("a.zip")).unwrap();
    let layer = &bad.layers[0].data;
    let at = bytes
        .windows(64)
        .position(|w| w == &layer[100_000..100_064])
        .expect("layer bytes are stored as is");
    bytes[at + 10] ^= 0xFF;
    std::fs::write(env.path("a.zip"), &bytes).unwrap();

    let run = env.run(&["load", "-s", "a.zip", "-d", &dst.addr, "--tls-verify=false"]);
    assert_eq!(run.code, 1, "{}", run.output());
    // An archive does not change between attempts: the entry fails at once, named.
    let entry = format!(
        "archive entry share/sha256/{}",
        bad.layers[0].digest.trim_start_matches("sha256:")
    );
    assert!(
        run.output().contains(&entry) && run.output().contains("(corrupted archive)"),
        "{}",
        run.output()
    );
    assert!(
        !run.output().contains("restarting the blob from the source"),
        "{}",
        run.output()
    );
    assert!(
        !dp.blob_exists("test/bad", &bad.layers[0].digest).await,
        "wrong bytes never committed"
    );
    assert!(
        dp.manifest("test/good", "1").await.is_some(),
        "the other image loaded"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("load-failed.txt")).unwrap(),
        format!("{}/test/bad:1\n", src.addr)
    );
}
