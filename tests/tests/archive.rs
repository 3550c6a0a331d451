//! `hangar save`: registry → Hangar archive, checked with independent tools (unzip, Python's
//! zipfile) and field by field against Hangar's format.

use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Format, MultiArch, Platform, sha256};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::collections::HashMap;
use std::io::Read as _;
use std::process::Command;

/// Every entry of a zip, read with Python's zipfile (not our reader): name → bytes, plus
/// whether all entries are Stored and the name of the last one.
fn zip_entries(path: &std::path::Path) -> (HashMap<String, Vec<u8>>, bool, String) {
    let script = "import sys, zipfile, json, base64\nz = zipfile.ZipFile(sys.argv[1])\nnames = [i.filename for i in z.infolist()]\nassert len(names) == len(set(names)), 'duplicate names'\nprint(json.dumps({'stored': all(i.compress_type == 0 for i in z.infolist()), 'last': names[-1], 'entries': {n: base64.b64encode(z.read(n)).decode() for n in names}}))";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    use base64::Engine as _;
    let entries = v["entries"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, b)| {
            (
                k.clone(),
                base64::engine::general_purpose::STANDARD
                    .decode(b.as_str().unwrap())
                    .unwrap(),
            )
        })
        .collect();
    (
        entries,
        v["stored"].as_bool().unwrap(),
        v["last"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn save_writes_a_hangar_archive_every_tool_can_read() {
    let src = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let multi = MultiArch::build(1400, 200_000);
    sp.push_index("test/multi", "v1", &multi.index, &multi.children())
        .await;
    let docker = images::image(
        Format::Docker,
        Platform::new("linux", "amd64", None),
        &[images::layer(Format::Docker, 1401, 5000)],
    );
    sp.push_image("test/docker", Some("2"), &docker).await;
    let env = Env::new();
    env.write(
        "list.txt",
        &format!(
            "{0}/test/multi:v1\n{0}/test/missing:1\n{0}/test/docker:2\n",
            src.addr
        ),
    );
    let run = env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "out.zip",
        "--tls-verify=false",
        "-j",
        "2",
    ]);
    assert_eq!(run.code, 1, "{}", run.output());
    assert_eq!(
        std::fs::read_to_string(env.path("save-failed.txt")).unwrap(),
        format!("{}/test/missing:1\n", src.addr)
    );

    let zip = env.path("out.zip");
    let unzip = Command::new("unzip").arg("-t").arg(&zip).output().unwrap();
    assert!(
        unzip.status.success(),
        "{}",
        String::from_utf8_lossy(&unzip.stdout)
    );
    let (entries, stored, last) = zip_entries(&zip);
    assert!(stored, "every entry is Stored");
    assert_eq!(last, "index.json", "the index is the last entry");

    let index: serde_json::Value = serde_json::from_slice(&entries["index.json"]).unwrap();
    assert_eq!(index["version"], "v1.2.0");
    let list = index["list"].as_array().unwrap();
    assert_eq!(list.len(), 2, "the failed image is not listed");
    assert_eq!(list[0]["source"], format!("{}/test/multi", src.addr));
    assert_eq!(list[0]["tag"], "v1");
    assert_eq!(
        list[0]["archList"],
        serde_json::json!(["amd64", "arm64", "unknown"])
    );
    let specs = list[0]["images"].as_array().unwrap();
    let digests: Vec<&str> = specs
        .iter()
        .map(|s| s["digest"].as_str().unwrap())
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
    assert_eq!(
        digests, want,
        "amd64, arm64 and their attestations; arm/v7 filtered out"
    );
    assert_eq!(specs[1]["variant"], "v8");
    assert_eq!(
        specs[2]["annotations"]["vnd.docker.reference.type"],
        "attestation-manifest"
    );
    assert_eq!(
        list[1]["images"][0]["mediaType"],
        images::DOCKER_MANIFEST,
        "docker v2s2 stored as is"
    );

    // Every platform: its layout, its manifest bytes, its config and layers, each named by digest.
    for spec in specs.iter().chain(list[1]["images"].as_array().unwrap()) {
        let digest = spec["digest"].as_str().unwrap();
        let hex = digest.trim_start_matches("sha256:");
        let layout: serde_json::Value =
            serde_json::from_slice(&entries[&format!("{hex}/index.json")]).unwrap();
        assert_eq!(layout["manifests"][0]["digest"], digest);
        assert_eq!(
            entries[&format!("{hex}/oci-layout")],
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()
        );
        let blobs = std::iter::once(digest)
            .chain(std::iter::once(spec["config"].as_str().unwrap()))
            .chain(
                spec["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap()),
            );
        for blob in blobs {
            let data = &entries[&format!("share/sha256/{}", blob.trim_start_matches("sha256:"))];
            assert_eq!(sha256(data), blob, "blob content matches its name");
        }
    }
    assert!(!entries.contains_key(&format!(
        "share/sha256/{}",
        multi.armv7.manifest.digest.trim_start_matches("sha256:")
    )));
    // Each blob once: the zip has no duplicate names (checked above), the base layer the
    // platforms share is there, and the file is no bigger than its blobs plus small entries.
    let shared = multi.amd64.layers[0]
        .digest
        .trim_start_matches("sha256:")
        .to_string();
    assert!(entries.contains_key(&format!("share/sha256/{shared}")));
    let mut f = std::fs::File::open(&zip).unwrap();
    let mut raw = Vec::new();
    f.read_to_end(&mut raw).unwrap();
    let blob_bytes: usize = entries
        .iter()
        .filter(|(k, _)| k.starts_with("share/"))
        .map(|(_, v)| v.len())
        .sum();
    assert!(
        raw.len() < blob_bytes + 64 * 1024,
        "no blob stored twice: archive {} bytes, blobs {blob_bytes}",
        raw.len()
    );
}
