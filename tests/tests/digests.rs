//! Every route keeps the digest a tag has at its source: mirror, save → load, and serve, for
//! the four shapes a tag can hold (an OCI index, a Docker manifest list, a single Docker
//! manifest, a single OCI manifest of another architecture). Signatures made at the source
//! (index and platforms) verify at the destination, with hangar and with plain openssl, and
//! podman pulls what was loaded.

use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Format, Image, Platform, layer};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use hangar_tests::serving;
use serde_json::Value;

struct Shape {
    repo: &'static str,
    /// The tag's digest at the source.
    digest: String,
    /// The platform manifests it names (itself for a single manifest).
    platforms: Vec<String>,
    index: bool,
}

async fn push_shapes(pusher: &Pusher) -> Vec<Shape> {
    let mut shapes = Vec::new();
    for (repo, format) in [
        ("shapes/oci-index", Format::Oci),
        ("shapes/docker-list", Format::Docker),
    ] {
        let seed = if format == Format::Oci { 7100 } else { 7200 };
        let children: Vec<Image> = [("amd64", None), ("arm64", Some("v8"))]
            .iter()
            .enumerate()
            .map(|(i, (arch, variant))| {
                images::image(
                    format,
                    Platform::new("linux", arch, *variant),
                    &[layer(format, seed + i as u64, 20_000)],
                )
            })
            .collect();
        let index = images::index(format, &children);
        pusher
            .push_index(repo, "1", &index, &children.iter().collect::<Vec<_>>())
            .await;
        shapes.push(Shape {
            repo,
            digest: index.digest.clone(),
            platforms: children.iter().map(|c| c.manifest.digest.clone()).collect(),
            index: true,
        });
    }
    for (repo, format, arch, seed) in [
        ("shapes/docker-single", Format::Docker, "amd64", 7300),
        ("shapes/oci-arm64", Format::Oci, "arm64", 7400),
    ] {
        let image = images::image(
            format,
            Platform::new("linux", arch, None),
            &[layer(format, seed, 20_000)],
        );
        pusher.push_image(repo, Some("1"), &image).await;
        shapes.push(Shape {
            repo,
            digest: image.manifest.digest.clone(),
            platforms: vec![image.manifest.digest.clone()],
            index: false,
        });
    }
    shapes
}

fn list(registry: &str, shapes: &[Shape]) -> String {
    shapes
        .iter()
        .map(|s| format!("{registry}/{}:1\n", s.repo))
        .collect()
}

/// Checks every cosign signature of `digest` in `repo` with openssl against `key.pub`.
async fn openssl_verifies(env: &Env, pusher: &Pusher, repo: &str, digest: &str) -> usize {
    use base64::Engine as _;
    let tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    let manifest = pusher
        .manifest(repo, &tag)
        .await
        .unwrap_or_else(|| panic!("{repo}@{digest} has no signature"));
    let manifest: Value = serde_json::from_slice(&manifest.bytes).unwrap();
    let mut checked = 0;
    for layer in manifest["layers"].as_array().unwrap() {
        let payload = pusher.blob(repo, layer["digest"].as_str().unwrap()).await;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(
                layer["annotations"]["dev.cosignproject.cosign/signature"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        std::fs::write(env.path("payload"), &payload).unwrap();
        std::fs::write(env.path("signature.der"), &signature).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-verify", "k.pub", "-signature"])
            .args(["signature.der", "payload"])
            .current_dir(env.path(""))
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl refused the signature of {repo}@{digest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let payload: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            payload["critical"]["image"]["docker-manifest-digest"],
            digest
        );
        checked += 1;
    }
    checked
}

/// `podman pull` of `reference` (plain HTTP) into a throwaway store, as root with vfs.
fn podman_pulls(env: &Env, reference: &str) -> String {
    let out = std::process::Command::new("podman")
        .args(["--root", "podman-root", "--runroot", "podman-run"])
        .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
        .args(["pull", "--tls-verify=false", "-q", reference])
        .current_dir(env.path(""))
        .output()
        .expect("podman (tests/install-deps installs it)");
    assert!(
        out.status.success(),
        "podman pull {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_keeps_the_source_digest() {
    let src = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let shapes = push_shapes(&sp).await;
    let env = Env::new();
    env.write("list.txt", &list(&src.addr, &shapes));
    env.write("pass.txt", "archive-pass\n");
    env.run(&[
        "generate-sigstore-key",
        "-p",
        "k",
        "--passphrase-file",
        "pass.txt",
    ])
    .ok();
    env.run(&[
        "sign",
        "-f",
        "list.txt",
        "-p",
        "k.key",
        "--passphrase-file",
        "pass.txt",
        "--tls-verify=false",
    ])
    .ok();

    // mirror
    let mirrored = RegistryServer::plain();
    env.mirror(&mirrored.addr, &[]).ok();
    // save → load
    env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "a.zip",
        "--tls-verify=false",
        "-y",
    ])
    .ok();
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
    // The archive routes carry the tag's own manifest too: export, merge, sync.
    for args in [
        vec![
            "archive", "export", "-f", "list.txt", "-s", "a.zip", "-d", "e.zip", "-y",
        ],
        vec!["archive", "init", "empty.zip", "s.zip"],
        vec![
            "archive",
            "merge",
            "-f",
            "a.zip",
            "-f",
            "empty.zip",
            "-o",
            "m.zip",
            "-y",
        ],
        vec![
            "sync",
            "-f",
            "list.txt",
            "-d",
            "s.zip",
            "--tls-verify=false",
        ],
    ] {
        let run = env.run(&args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.output());
    }
    let mut carried = Vec::new();
    for archive in ["e.zip", "m.zip", "s.zip"] {
        let registry = RegistryServer::plain();
        let run = env.run(&[
            "load",
            "-s",
            archive,
            "-d",
            &registry.addr,
            "--tls-verify=false",
        ]);
        assert_eq!(run.code, 0, "{archive}: {}", run.output());
        carried.push((archive, registry));
    }
    for shape in &shapes {
        for (archive, registry) in &carried {
            let got = Pusher::new(registry)
                .manifest(shape.repo, "1")
                .await
                .unwrap_or_else(|| panic!("{archive}: {} missing", shape.repo));
            assert_eq!(got.digest, shape.digest, "{archive} → load: {}", shape.repo);
        }
    }
    // serve
    let served = serving::serve(&env, "a.zip");
    let http = reqwest::Client::new();
    let every_type = [
        images::OCI_INDEX,
        images::DOCKER_LIST,
        images::OCI_MANIFEST,
        images::DOCKER_MANIFEST,
    ]
    .join(", ");
    for shape in &shapes {
        for (route, registry) in [("mirror", &mirrored), ("save → load", &loaded)] {
            let got = Pusher::new(registry)
                .manifest(shape.repo, "1")
                .await
                .unwrap_or_else(|| panic!("{route}: {} missing", shape.repo));
            assert_eq!(got.digest, shape.digest, "{route}: {}", shape.repo);
        }
        let answer = http
            .get(format!(
                "http://{}/v2/{}/manifests/1",
                served.addr, shape.repo
            ))
            .header("Accept", &every_type)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "serve: {}", shape.repo);
        assert_eq!(
            answer.headers()["docker-content-digest"],
            shape.digest.as_str(),
            "serve: {}",
            shape.repo
        );
        assert_eq!(
            images::sha256(&answer.bytes().await.unwrap()),
            shape.digest,
            "serve: {} bytes",
            shape.repo
        );
        // A client that takes no index types is not handed an index.
        let single_only = http
            .get(format!(
                "http://{}/v2/{}/manifests/1",
                served.addr, shape.repo
            ))
            .header("Accept", images::OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        let expected = if shape.index { 404 } else { 200 };
        assert_eq!(single_only.status(), expected, "serve: {}", shape.repo);
    }

    // Signed at the source, verified after the gap: hangar, and openssl on every signature.
    env.write("loaded.txt", &list(&loaded.addr, &shapes));
    let validated = env.run(&[
        "sign",
        "validate",
        "-f",
        "loaded.txt",
        "-k",
        "k.pub",
        "--tls-verify=false",
    ]);
    assert_eq!(validated.code, 0, "{}", validated.output());
    let lp = Pusher::new(&loaded);
    for shape in &shapes {
        let mut digests = shape.platforms.clone();
        if shape.index {
            digests.insert(0, shape.digest.clone());
        }
        for digest in &digests {
            assert!(openssl_verifies(&env, &lp, shape.repo, digest).await >= 1);
        }
    }

    // podman pulls each loaded image; the single arm64 one too (when load wrapped it in an
    // index, an amd64 host found "no image found in image index").
    for shape in &shapes {
        let id = podman_pulls(&env, &format!("{}/{}:1", loaded.addr, shape.repo));
        assert!(!id.is_empty(), "{}", shape.repo);
        eprintln!("podman pulled {} as {id}", shape.repo);
    }
}

/// Archives without the kept manifest (written before it, or by Hangar) still load: the tag
/// gets an index built from the platform list, as before.
#[tokio::test(flavor = "multi_thread")]
async fn archives_without_the_source_manifest_still_load() {
    let src = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let shapes = push_shapes(&sp).await;
    let env = Env::new();
    env.write("list.txt", &list(&src.addr, &shapes));
    env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "new.zip",
        "--tls-verify=false",
        "-y",
    ])
    .ok();
    // The previous release's index.json shape: the same images, no sourceManifest.
    let rewrite = r#"
import json, sys, zipfile
src, dst = zipfile.ZipFile(sys.argv[1]), zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED)
for info in src.infolist():
    data = src.read(info.filename)
    if info.filename == "index.json":
        index = json.loads(data)
        for image in index["list"]:
            assert "sourceManifest" in image, image
            del image["sourceManifest"]
        data = json.dumps(index).encode()
    dst.writestr(info.filename, data)
dst.close()
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", rewrite, "new.zip", "old.zip"])
        .current_dir(env.path(""))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dst = RegistryServer::plain();
    env.run(&[
        "load",
        "-s",
        "old.zip",
        "-d",
        &dst.addr,
        "--tls-verify=false",
    ])
    .ok();
    let dp = Pusher::new(&dst);
    for shape in &shapes {
        let got = dp.manifest(shape.repo, "1").await.expect("loaded");
        assert_eq!(
            got.media_type,
            images::OCI_INDEX,
            "{}: built index",
            shape.repo
        );
        let index: Value = serde_json::from_slice(&got.bytes).unwrap();
        let listed: Vec<&str> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["digest"].as_str().unwrap())
            .collect();
        assert_eq!(listed, shape.platforms, "{}", shape.repo);
    }
    env.run(&[
        "load",
        "validate",
        "-s",
        "old.zip",
        "-d",
        &dst.addr,
        "--tls-verify=false",
    ])
    .ok();
}
