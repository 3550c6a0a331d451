//! `archive ls|verify|init|merge|export|store|export file`, and an archive assembled by Python
//! straight from Hangar's spec (data descriptors, as Go writes them) that ls, verify and load
//! must accept.

use hangar_tests::hangar::Env;
use hangar_tests::images::{self, MultiArch, sha256};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::process::Command;

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A Hangar archive written by Python's zipfile on an unseekable stream (so with data
/// descriptors, like Go's writer), following §3 of the spec by hand: one image, two
/// platforms sharing a layer, and an index with a field this tool does not know.
const SPEC_ARCHIVE: &str = r#"
import sys, zipfile, json, hashlib
class Unseekable:
    def __init__(self, f): self.f = f
    def write(self, b): return self.f.write(b)
    def flush(self): self.f.flush()
def d(b): return "sha256:" + hashlib.sha256(b).hexdigest()
entries, specs = {}, []
shared = b"shared-layer" * 5000
for arch, extra in (("amd64", b"a" * 3000), ("arm64", b"b" * 4000)):
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d(x), "size": len(x)} for x in (shared, extra)]}).encode()
    for blob in (config, manifest, shared, extra):
        entries["share/sha256/" + d(blob)[7:]] = blob
    hexd = d(manifest)[7:]
    entries[hexd + "/index.json"] = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d(manifest), "size": len(manifest)}]}, separators=(",", ":")).encode()
    entries[hexd + "/oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    specs.append({"arch": arch, "os": "linux", "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "layers": [d(shared), d(extra)], "config": d(config), "digest": d(manifest)})
index = {"list": [{"source": "docker.io/library/spec", "tag": "1.0", "archList": ["amd64", "arm64"], "osList": ["linux"], "images": specs}],
    "version": "v1.2.0", "time": "2025-02-13T18:56:27.123456789+08:00", "futureField": {"x": 1}}
with open(sys.argv[1], "wb") as raw:
    z = zipfile.ZipFile(Unseekable(raw), "w", zipfile.ZIP_STORED)
    for name in sorted(entries):
        with z.open(name, "w") as w: w.write(entries[name])
    with z.open("index.json", "w") as w: w.write(json.dumps(index, separators=(",", ":")).encode())
    z.close()
z = zipfile.ZipFile(sys.argv[1])
assert all(i.flag_bits & 8 for i in z.infolist()), "data descriptors"
print(json.dumps([s["digest"] for s in specs]))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_built_from_the_spec_lists_verifies_and_loads() {
    let env = Env::new();
    let path = env.path("spec.zip");
    let digests: Vec<String> =
        serde_json::from_str(&python(SPEC_ARCHIVE, &[path.to_str().unwrap()])).unwrap();
    let ls = env
        .run(&["archive", "ls", "spec.zip", "--hide-log-time"])
        .ok()
        .output();
    assert!(ls.contains("Created time: 2025-02-13"), "{ls}");
    assert!(ls.contains("Index version: v1.2.0"), "{ls}");
    // `hangar archive ls … | head`: a reader that goes away ends the command quietly.
    for args in [
        ["archive", "ls", "spec.zip", "--json"],
        ["archive", "ls", "spec.zip", "--image-only"],
    ] {
        let mut child = env.spawn(&args);
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{stderr}"
        );
    }
    // Unique layers only: the shared one (60000 bytes) once + 3000 + 4000.
    assert!(
        ls.contains("   1 | docker.io/library/spec:1.0 | amd64,arm64 | linux | 65.43K"),
        "{ls}"
    );
    let verify = env.run(&["archive", "verify", "spec.zip"]).ok().output();
    assert!(verify.contains("Checked 7 blobs"), "{verify}");

    let dst = RegistryServer::plain();
    env.run(&[
        "load",
        "-s",
        "spec.zip",
        "-d",
        &dst.addr,
        "--tls-verify=false",
    ])
    .ok();
    let dp = Pusher::new(&dst);
    let top = dp.manifest("library/spec", "1.0").await.unwrap();
    let index: serde_json::Value = serde_json::from_slice(&top.bytes).unwrap();
    let loaded: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(loaded, digests);
    assert_eq!(index["manifests"][1]["platform"]["architecture"], "arm64");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_every_bad_entry() {
    let env = Env::new();
    let path = env.path("spec.zip");
    python(SPEC_ARCHIVE, &[path.to_str().unwrap()]);
    // And an index that refers to a blob the archive lacks.
    python(
        "import sys, zipfile, json\nsrc = zipfile.ZipFile(sys.argv[1])\nout = zipfile.ZipFile(sys.argv[2], 'w')\nfor i in src.infolist():\n    data = src.read(i) if i.filename != 'index.json' else None\n    if data is not None: out.writestr(i.filename, data)\nindex = json.loads(src.read('index.json'))\nindex['list'][0]['images'][0]['layers'].append('sha256:' + '0' * 64)\nout.writestr('index.json', json.dumps(index))\n",
        &[
            path.to_str().unwrap(),
            env.path("missing.zip").to_str().unwrap(),
        ],
    );
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(12)
        .position(|w| w == b"shared-layer")
        .unwrap();
    bytes[at] = b'S';
    std::fs::write(&path, &bytes).unwrap();
    let bad = env.run(&["archive", "verify", "spec.zip"]);
    assert_eq!(bad.code, 1);
    let shared = sha256(&b"shared-layer".repeat(5000));
    assert!(
        bad.output().contains(&format!(
            "entry share/sha256/{}: content hashes to",
            &shared[7..]
        )),
        "{}",
        bad.output()
    );
    assert!(
        bad.output().contains("failed verification"),
        "{}",
        bad.output()
    );
    let missing = env.run(&["archive", "verify", "missing.zip"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .output()
            .contains(&format!("entry share/sha256/{} is missing", "0".repeat(64))),
        "{}",
        missing.output()
    );
}

fn chart_tgz(name: &str, version: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (file, body) in [
        (
            "Chart.yaml",
            format!(
                "apiVersion: v2\nname: {name}\nversion: {version}\ndescription: A test chart\nhome: https://example.com\n"
            ),
        ),
        ("values.yaml", "replicas: 1\n".to_string()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{name}/{file}"), body.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Stops a background server by PID when the test ends, also on failure.
struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn store_charts_and_files_then_ls_export_and_load_them() {
    let env = Env::new();
    env.run(&["archive", "init", "store.zip"]).ok();
    let again = env.run(&["archive", "init", "store.zip"]);
    assert_eq!(again.code, 1);
    assert!(again.output().contains("already exists"));

    std::fs::write(env.path("local-1.0.0.tgz"), chart_tgz("local", "1.0.0")).unwrap();
    std::fs::create_dir_all(env.path("dirchart/templates")).unwrap();
    std::fs::write(
        env.path("dirchart/Chart.yaml"),
        "apiVersion: v2\nname: dirchart\nversion: 0.2.0+build.1\n",
    )
    .unwrap();
    std::fs::write(env.path("dirchart/templates/cm.yaml"), "kind: ConfigMap\n").unwrap();
    // A Helm repository served over HTTP.
    let repo = env.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("web-2.0.0.tgz"), chart_tgz("web", "2.0.0")).unwrap();
    std::fs::write(repo.join("web-1.0.0.tgz"), chart_tgz("web", "1.0.0")).unwrap();
    std::fs::write(repo.join("index.yaml"), "apiVersion: v1\nentries:\n  web:\n  - name: web\n    version: 2.0.0\n    urls: [web-2.0.0.tgz]\n  - name: web\n    version: 1.0.0\n    urls: [web-1.0.0.tgz]\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Killed(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "-d",
            ])
            .arg(&repo)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A chart in a registry.
    let registry = RegistryServer::plain();
    let rp = Pusher::new(&registry);
    let oci_tgz = chart_tgz("ocichart", "3.0.0");
    let config = images::Blob::new(
        "application/vnd.cncf.helm.config.v1+json",
        br#"{"name":"ocichart","version":"3.0.0"}"#.to_vec(),
    );
    let layer = images::Blob::new(
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        oci_tgz,
    );
    let manifest = images::Blob::new(images::OCI_MANIFEST, serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": images::OCI_MANIFEST, "config": config.descriptor(), "layers": [layer.descriptor()]})).unwrap());
    rp.push_blob("charts/ocichart", &config).await;
    rp.push_blob("charts/ocichart", &layer).await;
    rp.push_manifest("charts/ocichart", "3.0.0", &manifest)
        .await;

    let stored = env.run(&[
        "archive",
        "store",
        "chart",
        "-f",
        "store.zip",
        "local-1.0.0.tgz",
        "dirchart",
        &format!("{base}/web-1.0.0.tgz"),
    ]);
    assert_eq!(stored.code, 0, "{}", stored.output());
    env.run(&[
        "archive",
        "store",
        "chart",
        "-f",
        "store.zip",
        "--name",
        "web",
        &base,
    ])
    .ok();
    env.run(&[
        "archive",
        "store",
        "chart",
        "-f",
        "store.zip",
        "--name",
        "ocichart",
        "--version",
        "3.0.0",
        "--tls-verify=false",
        &format!("oci://{}/charts", registry.addr),
    ])
    .ok();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(env.path("notes.bin"), &payload).unwrap();
    env.run(&["archive", "store", "file", "-f", "store.zip", "notes.bin"])
        .ok();
    let dir = env.run(&["archive", "store", "file", "-f", "store.zip", "repo"]);
    assert_eq!(dir.code, 1);
    assert!(dir.output().contains("is a directory"), "{}", dir.output());

    let listed = env
        .run(&["archive", "ls", "-f", "store.zip", "--image-only"])
        .ok()
        .stdout
        .clone();
    let images: Vec<&str> = listed.lines().collect();
    assert_eq!(
        images,
        [
            "docker.io/hangar-helm/local:1.0.0",
            "docker.io/hangar-helm/dirchart:0.2.0-build.1",
            "docker.io/hangar-helm/web:1.0.0",
            "docker.io/hangar-helm/web:2.0.0",
            &format!("{}/charts/ocichart:3.0.0", registry.addr),
            "docker.io/hangar-file/notes.bin:latest",
        ]
    );
    let table = env.run(&["archive", "ls", "-f", "store.zip"]).ok().output();
    assert!(
        table.contains("docker.io/hangar-helm/local:1.0.0 | NOARCH | NOOS |")
            && table.contains("| (helm chart)"),
        "{table}"
    );
    assert!(
        table.contains(
            "docker.io/hangar-file/notes.bin:latest | NOARCH | NOOS | 292.97K | (custom file)"
        ),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &env.run(&["archive", "ls", "-f", "store.zip", "--json"])
            .ok()
            .stdout
            .clone(),
    )
    .unwrap();
    let local = &json["list"][0]["images"][0];
    // The chart is stored byte for byte, its config is the chart metadata, indented.
    let zip = zipfile_read(
        &env.path("store.zip"),
        &[
            local["layers"][0].as_str().unwrap(),
            local["config"].as_str().unwrap(),
            local["digest"].as_str().unwrap(),
        ],
    );
    assert_eq!(zip[0], chart_tgz("local", "1.0.0"));
    assert_eq!(
        String::from_utf8_lossy(&zip[1]),
        "{\n  \"name\": \"local\",\n  \"home\": \"https://example.com\",\n  \"version\": \"1.0.0\",\n  \"description\": \"A test chart\",\n  \"apiVersion\": \"v2\"\n}"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&zip[2]).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.cncf.helm.config.v1+json"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.title"],
        "local"
    );
    assert!(String::from_utf8_lossy(&zip[2]).starts_with("{\n  \"schemaVersion\": 2,"));
    assert!(env.run(&["archive", "verify", "store.zip"]).code == 0);

    // The stored file comes back byte for byte.
    std::fs::create_dir(env.path("out")).unwrap();
    let export = Command::new(hangar_tests::hangar::bin())
        .args([
            "archive",
            "export",
            "file",
            "-f",
            "../store.zip",
            "-n",
            "notes.bin",
        ])
        .current_dir(env.path("out"))
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    assert_eq!(std::fs::read(env.path("out/notes.bin")).unwrap(), payload);

    // A chart loads straight to its tag (no index), as in Hangar.
    let dst = RegistryServer::plain();
    env.write("pick.txt", "docker.io/hangar-helm/local:1.0.0\n");
    env.run(&[
        "load",
        "-s",
        "store.zip",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "-f",
        "pick.txt",
    ])
    .ok();
    let pushed = Pusher::new(&dst)
        .manifest("hangar-helm/local", "1.0.0")
        .await
        .unwrap();
    assert_eq!(pushed.digest, local["digest"].as_str().unwrap());
}

fn zipfile_read(path: &std::path::Path, digests: &[&str]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let names: Vec<String> = digests
        .iter()
        .map(|d| format!("share/sha256/{}", d.trim_start_matches("sha256:")))
        .collect();
    let mut args = vec![path.to_str().unwrap()];
    args.extend(names.iter().map(String::as_str));
    let out = python(
        "import sys, zipfile, base64\nz = zipfile.ZipFile(sys.argv[1])\nfor n in sys.argv[2:]: print(base64.b64encode(z.read(n)).decode())",
        &args,
    );
    out.lines()
        .map(|l| base64::engine::general_purpose::STANDARD.decode(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn merge_and_export_copy_images_between_archives() {
    let src = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let a = MultiArch::build(5100, 100_000);
    let b = MultiArch::build(5200, 100_000);
    sp.push_index("test/a", "1", &a.index, &a.children()).await;
    sp.push_index("test/b", "1", &b.index, &b.children()).await;
    let env = Env::new();
    env.write("a.txt", &format!("{}/test/a:1\n", src.addr));
    env.write("b.txt", &format!("{}/test/b:1\n", src.addr));
    env.run(&["save", "-f", "a.txt", "-d", "a.zip", "--tls-verify=false"])
        .ok();
    env.run(&["save", "-f", "b.txt", "-d", "b.zip", "--tls-verify=false"])
        .ok();
    let one = env.run(&["archive", "merge", "-f", "a.zip", "-o", "m.zip"]);
    assert_eq!(one.code, 1);
    assert!(one.output().contains("at least 2 archive files"));
    env.run(&[
        "archive", "merge", "-f", "a.zip", "-f", "b.zip", "-f", "a.zip", "-o", "m.zip",
    ])
    .ok();
    let listed = env
        .run(&["archive", "ls", "m.zip", "--image-only"])
        .ok()
        .stdout
        .clone();
    assert_eq!(
        listed,
        format!("{0}/test/a:1\n{0}/test/b:1\n", src.addr),
        "a merged twice is listed once"
    );
    assert_eq!(env.run(&["archive", "verify", "m.zip"]).code, 0);
    let unzip = Command::new("unzip")
        .arg("-tq")
        .arg(env.path("m.zip"))
        .output()
        .unwrap();
    assert!(unzip.status.success());

    env.write(
        "pick.txt",
        &format!("{0}/test/b:1\n{0}/test/zzz:1\n", src.addr),
    );
    let export = env.run(&[
        "archive", "export", "-f", "pick.txt", "-s", "m.zip", "-d", "e.zip",
    ]);
    assert_eq!(export.code, 1, "{}", export.output());
    assert_eq!(
        std::fs::read_to_string(env.path("export-failed.txt")).unwrap(),
        format!("{}/test/zzz:1\n", src.addr)
    );
    assert_eq!(
        env.run(&["archive", "ls", "e.zip", "--image-only"])
            .ok()
            .stdout
            .clone(),
        format!("{}/test/b:1\n", src.addr)
    );
    assert_eq!(env.run(&["archive", "verify", "e.zip"]).code, 0);
}
