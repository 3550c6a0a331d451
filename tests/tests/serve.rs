//! `hangar serve`: an archive as a read-only registry, pulled by skopeo (an independent client)
//! into a real registry, with digests compared; plus Range, tags, catalog and refusals.

use hangar_tests::hangar::Env;
use hangar_tests::images::{self, MultiArch};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use hangar_tests::serving::serve;
use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_pulls_from_serve_with_the_same_digests() {
    let src = RegistryServer::plain();
    let dst = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let multi = MultiArch::build(6100, 250_000);
    sp.push_index("test/multi", "v1", &multi.index, &multi.children())
        .await;
    let single = images::single(6200, 80_000);
    sp.push_image("library/single", Some("2"), &single).await;
    let env = Env::new();
    env.write(
        "list.txt",
        &format!("{0}/test/multi:v1\n{0}/library/single:2\n", src.addr),
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
    let server = serve(&env, "a.zip");
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.addr);

    let catalog: serde_json::Value = http
        .get(format!("{base}/v2/_catalog"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        catalog["repositories"],
        serde_json::json!(["library/single", "test/multi"])
    );
    let tags: serde_json::Value = http
        .get(format!("{base}/v2/test/multi/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));

    for (repo, tag) in [("test/multi", "v1"), ("library/single", "2")] {
        let out = Command::new("skopeo")
            .args([
                "copy",
                "--all",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--retry-times=0",
            ])
            .arg(format!("docker://{}/{repo}:{tag}", server.addr))
            .arg(format!("docker://{}/{repo}:{tag}", dst.addr))
            .output()
            .expect("skopeo must be installed (apt-get install skopeo)");
        assert!(
            out.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dp = Pusher::new(&dst);
    // The rebuilt index arrives byte for byte; every platform manifest keeps its digest.
    let served = http
        .get(format!("{base}/v2/test/multi/manifests/v1"))
        .send()
        .await
        .unwrap();
    let served_digest = served.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    let served_bytes = served.bytes().await.unwrap();
    let copied = dp.manifest("test/multi", "v1").await.unwrap();
    assert_eq!(copied.digest, served_digest);
    assert_eq!(copied.bytes, served_bytes);
    let index: serde_json::Value = serde_json::from_slice(&copied.bytes).unwrap();
    let digests: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    let mut want = vec![
        multi.amd64.manifest.digest.as_str(),
        multi.arm64.manifest.digest.as_str(),
    ];
    want.extend(
        multi
            .attestations
            .iter()
            .map(|a| a.manifest.digest.as_str()),
    );
    assert_eq!(digests, want, "amd64, arm64 and attestations, as saved");
    assert_eq!(index["manifests"][1]["platform"]["variant"], "v8");
    for child in [&multi.amd64, &multi.arm64] {
        let got = dp
            .manifest("test/multi", &child.manifest.digest)
            .await
            .unwrap();
        assert_eq!(got.bytes, child.manifest.data);
        for blob in child.blobs() {
            assert!(dp.blob_exists("test/multi", &blob.digest).await);
        }
    }
    assert!(
        dp.manifest("library/single", &single.manifest.digest)
            .await
            .is_some()
    );

    // The same index digest as a load into an empty registry gives.
    let loaded = RegistryServer::plain();
    env.run(&[
        "load",
        "-s",
        "a.zip",
        "-d",
        &loaded.addr,
        "--tls-verify=false",
    ])
    .ok();
    assert_eq!(
        Pusher::new(&loaded)
            .manifest("test/multi", "v1")
            .await
            .unwrap()
            .digest,
        served_digest
    );

    // Range, HEAD, full source names, and a read-only refusal.
    let layer = &multi.amd64.layers[1];
    let part = http
        .get(format!("{base}/v2/test/multi/blobs/{}", layer.digest))
        .header("Range", "bytes=100-1099")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 100-1099/{}", layer.data.len())
    );
    assert_eq!(part.bytes().await.unwrap(), layer.data.slice(100..1100));
    // RFC 9110: a unit other than bytes, several ranges, an invalid range or an If-Range
    // that does not match are ignored (the whole blob); a range past the end is 416; HEAD
    // describes the whole blob.
    let blob_url = format!("{base}/v2/test/multi/blobs/{}", layer.digest);
    let whole = layer.data.len().to_string();
    let with_range = |range: &str| http.get(&blob_url).header("Range", range.to_string());
    for (range, if_range) in [
        ("items=0-5", None),
        ("bytes=0-0,5-9", None),
        ("bytes=9-2", None),
        ("bytes=0-9", Some("\"sha256:0000\"")),
    ] {
        let mut request = with_range(range);
        if let Some(tag) = if_range {
            request = request.header("If-Range", tag);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 200, "{range} {if_range:?}");
        assert!(answer.headers().get("content-range").is_none(), "{range}");
        assert_eq!(answer.bytes().await.unwrap(), layer.data, "{range}");
    }
    let matching = with_range("bytes=0-9")
        .header("If-Range", format!("\"{}\"", layer.digest))
        .send()
        .await
        .unwrap();
    assert_eq!(matching.status(), 206);
    assert_eq!(matching.bytes().await.unwrap(), layer.data.slice(0..10));
    let suffix = with_range("bytes=-10").send().await.unwrap();
    assert_eq!(suffix.status(), 206);
    assert_eq!(
        suffix.bytes().await.unwrap(),
        layer.data.slice(layer.data.len() - 10..)
    );
    let past = with_range(&format!("bytes={whole}-")).send().await.unwrap();
    assert_eq!(past.status(), 416);
    assert_eq!(past.headers()["content-range"], format!("bytes */{whole}"));
    let head_ranged = http
        .head(&blob_url)
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(head_ranged.status(), 200);
    assert_eq!(head_ranged.headers()["content-length"], whole.as_str());
    let head = http
        .head(format!("{base}/v2/{}/test/multi/manifests/v1", src.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["docker-content-digest"],
        served_digest.as_str()
    );
    let other = http
        .get(format!("{base}/v2/library/single/blobs/{}", layer.digest))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        404,
        "blobs are served only in the repositories that use them"
    );
    let put = http
        .put(format!("{base}/v2/test/multi/manifests/v2"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 405);
    let missing = http
        .get(format!("{base}/v2/test/multi/manifests/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_UNKNOWN");
}

/// A blob whose bytes in the archive do not match its digest is never sent whole: the response
/// is cut off before its last piece (a client sees a failed transfer, not a wrong blob).
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_blob_is_never_served_whole() {
    let src = RegistryServer::plain();
    let image = images::single(6300, 120_000);
    Pusher::new(&src)
        .push_image("test/bad", Some("1"), &image)
        .await;
    let env = Env::new();
    env.write("list.txt", &format!("{}/test/bad:1\n", src.addr));
    env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "a.zip",
        "--tls-verify=false",
    ])
    .ok();
    let mut bytes = std::fs::read(env.path("a.zip")).unwrap();
    let layer = &image.layers[0].data;
    let at = bytes
        .windows(64)
        .position(|w| w == &layer[50_000..50_064])
        .expect("layer bytes are stored as is");
    bytes[at + 7] ^= 0xFF;
    std::fs::write(env.path("a.zip"), &bytes).unwrap();
    let server = serve(&env, "a.zip");
    let url = format!(
        "http://{}/v2/test/bad/blobs/{}",
        server.addr, image.layers[0].digest
    );
    let answer = reqwest::get(&url).await.unwrap();
    assert_eq!(answer.status(), 200);
    let body = answer.bytes().await;
    assert!(
        body.as_ref()
            .map_or(true, |b| images::sha256(b) != image.layers[0].digest
                && b.len() < layer.len()),
        "the corrupted blob was sent whole"
    );
    assert!(body.is_err(), "the transfer fails");
}
