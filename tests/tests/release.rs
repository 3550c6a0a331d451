//! What `package/build` does with hangar itself, on every run: the image package/image.py
//! writes as an OCI layout is published with `hangar mirror` (`oci:DIR DEST TAG` lines),
//! byte for byte, judged by the signature policy's `oci` scopes; artifacts are signed with
//! `hangar sign-blob`, and the signatures verify with `hangar verify-blob` and with openssl.

use hangar_tests::hangar::Env;
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// package/image.py's layout of `version`, with two small files standing in for the binaries;
/// returns the index digest it printed.
fn image_layout(dir: &Path, version: &str, env: &Env) -> String {
    env.write("bin-amd64", "#!/bin/sh\necho amd64\n");
    env.write("bin-arm64", "#!/bin/sh\necho arm64\n");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../package/image.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .arg(version)
        .arg(env.path("bin-amd64"))
        .arg(env.path("bin-arm64"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oci_layout_is_published_with_mirror() {
    let registry = RegistryServer::plain();
    let env = Env::new();
    let layout = env.path("image");
    let index_digest = image_layout(&layout, "1.2.3", &env);
    env.write(
        "accept.json",
        r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
    );
    env.write(
        "list.txt",
        &format!(
            "oci:{dir} {reg}/cnrancher/hangar 1.2.3\n\
             oci:{dir}/missing {reg}/cnrancher/missing 1.2.3\n\
             oci:{dir} {reg}/cnrancher/absent 9.9.9\n\
             oci:{dir} {reg}/cnrancher/two-columns\n",
            dir = layout.display(),
            reg = registry.addr
        ),
    );
    let run = env.mirror("", &["--policy", "accept.json"]);
    assert_eq!(run.code, 1, "{}", run.output());
    // The whole index, every platform manifest, config and layer arrive as written.
    let pusher = Pusher::new(&registry);
    let got = pusher.manifest("cnrancher/hangar", "1.2.3").await.unwrap();
    assert_eq!(got.digest, index_digest);
    let index = json(&got.bytes);
    let platforms: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);
    for entry in index["manifests"].as_array().unwrap() {
        let digest = entry["digest"].as_str().unwrap();
        let manifest = pusher.manifest("cnrancher/hangar", digest).await.unwrap();
        let parsed = json(&manifest.bytes);
        let blobs = std::iter::once(&parsed["config"]).chain(parsed["layers"].as_array().unwrap());
        for blob in blobs {
            let digest = blob["digest"].as_str().unwrap();
            let on_disk = std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap();
            assert_eq!(pusher.blob("cnrancher/hangar", digest).await, on_disk);
        }
        let config = json(
            &pusher
                .blob(
                    "cnrancher/hangar",
                    parsed["config"]["digest"].as_str().unwrap(),
                )
                .await,
        );
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(config["config"]["Entrypoint"][0], "/usr/local/bin/hangar");
    }
    // Each bad line says why on one line; the good one was copied all the same.
    let output = run.output();
    assert!(
        output.contains("not an OCI image layout") && output.contains("missing/oci-layout"),
        "{output}"
    );
    assert!(output.contains("no image named \"9.9.9\""), "{output}");
    assert!(
        output.contains("an OCI layout source is written oci:DIR DESTINATION TAG"),
        "{output}"
    );
    let failed = std::fs::read_to_string(env.path("mirror-failed.txt")).unwrap();
    assert_eq!(
        failed.lines().count(),
        2,
        "the two lines that could not be copied: {failed}"
    );
    assert!(pusher.manifest("cnrancher/absent", "9.9.9").await.is_none());

    // A second run copies nothing again, and says the destination has it.
    env.write(
        "list.txt",
        &format!(
            "oci:{} {}/cnrancher/hangar 1.2.3\n",
            layout.display(),
            registry.addr
        ),
    );
    env.mirror("", &["--policy", "accept.json"]).ok();
    assert_eq!(
        pusher
            .manifest("cnrancher/hangar", "1.2.3")
            .await
            .unwrap()
            .digest,
        index_digest
    );
}

/// A layer whose bytes changed in the layout is not pushed, and the tag is not written.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_layout_blob_is_never_pushed() {
    let registry = RegistryServer::plain();
    let env = Env::new();
    let layout = env.path("image");
    image_layout(&layout, "1.0.0", &env);
    // The largest blob is a layer: flip its last byte.
    let largest = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&largest).unwrap();
    *bytes.last_mut().unwrap() ^= 0xff;
    std::fs::write(&largest, bytes).unwrap();
    env.write(
        "accept.json",
        r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
    );
    env.write(
        "list.txt",
        &format!(
            "oci:{} {}/team/bad 1.0.0\n",
            layout.display(),
            registry.addr
        ),
    );
    let run = env.mirror("", &["--policy", "accept.json"]);
    assert_eq!(run.code, 1, "{}", run.output());
    let digest = format!("sha256:{}", largest.file_name().unwrap().to_str().unwrap());
    assert!(run.output().contains(&digest[..19]), "{}", run.output());
    let pusher = Pusher::new(&registry);
    assert!(pusher.manifest("team/bad", "1.0.0").await.is_none());
    assert!(!pusher.blob_exists("team/bad", &digest).await);
}

/// The signature policy judges a layout by the `oci` transport's scopes (its directory, then
/// its parents): a default-reject policy refuses it unless a scope admits it.
#[tokio::test(flavor = "multi_thread")]
async fn the_policy_judges_layouts_by_directory() {
    let registry = RegistryServer::plain();
    let env = Env::new();
    let layout = env.path("build/image");
    image_layout(&layout, "2.0.0", &env);
    env.write(
        "list.txt",
        &format!(
            "oci:{} {}/team/app 2.0.0\n",
            layout.display(),
            registry.addr
        ),
    );
    env.write("reject.json", r#"{"default": [{"type": "reject"}]}"#);
    let refused = env.mirror("", &["--policy", "reject.json"]);
    refused.fails_with("refused by reject.json (scope \"default\"): the policy rejects it");
    let pusher = Pusher::new(&registry);
    assert!(pusher.manifest("team/app", "2.0.0").await.is_none());
    env.write(
        "build-only.json",
        &format!(
            r#"{{"default": [{{"type": "reject"}}],
                "transports": {{"oci": {{"{}": [{{"type": "insecureAcceptAnything"}}]}}}}}}"#,
            env.path("build").display()
        ),
    );
    env.mirror("", &["--policy", "build-only.json"]).ok();
    assert!(pusher.manifest("team/app", "2.0.0").await.is_some());
}

/// `sign-blob` writes FILE.sig (cosign's sign-blob form); `verify-blob` and openssl accept
/// it; a changed file or another key is refused with the file named, the others still pass.
#[test]
fn files_are_signed_detached_and_verify_with_openssl() {
    let env = Env::new();
    env.write("pass.txt", "secret\n");
    env.run(&[
        "generate-sigstore-key",
        "-p",
        "release",
        "--passphrase-file",
        "pass.txt",
    ])
    .ok();
    env.write("SHA256SUMS", "0123  hangar-linux-amd64\n");
    env.write("hangar.deb", &"x".repeat(300_000));
    env.run(&[
        "sign-blob",
        "-p",
        "release.key",
        "--passphrase-file",
        "pass.txt",
        "SHA256SUMS",
        "hangar.deb",
    ])
    .ok();
    let verify = |files: &[&str], key: &str| {
        let mut args = vec!["verify-blob", "-k", key];
        args.extend_from_slice(files);
        env.run(&args)
    };
    let ok = verify(&["SHA256SUMS", "hangar.deb"], "release.pub");
    ok.ok();
    assert_eq!(
        ok.output().matches("Verified OK").count(),
        2,
        "{}",
        ok.output()
    );
    // openssl reads the same signature: base64 of a DER ECDSA signature over SHA-256.
    for file in ["SHA256SUMS", "hangar.deb"] {
        let der = Command::new("base64")
            .arg("-d")
            .arg(env.path(&format!("{file}.sig")))
            .output()
            .unwrap();
        assert!(der.status.success());
        std::fs::write(env.path(&format!("{file}.sig.der")), &der.stdout).unwrap();
        let openssl = Command::new("openssl")
            .args(["dgst", "-sha256", "-verify", "release.pub", "-signature"])
            .arg(format!("{file}.sig.der"))
            .arg(file)
            .current_dir(env.path(""))
            .output()
            .expect("openssl");
        assert_eq!(
            String::from_utf8_lossy(&openssl.stdout).trim(),
            "Verified OK",
            "{}",
            String::from_utf8_lossy(&openssl.stderr)
        );
    }
    // A changed file fails alone, named.
    env.write("hangar.deb", &"y".repeat(300_000));
    let changed = verify(&["SHA256SUMS", "hangar.deb"], "release.pub");
    assert_eq!(changed.code, 1, "{}", changed.output());
    assert!(
        changed
            .output()
            .contains("hangar.deb: hangar.deb.sig is not a signature of this file by release.pub"),
        "{}",
        changed.output()
    );
    assert_eq!(changed.output().matches("Verified OK").count(), 1);
    // Another key refuses them all; a missing signature is named.
    env.run(&[
        "generate-sigstore-key",
        "-p",
        "other",
        "--passphrase-file",
        "pass.txt",
    ])
    .ok();
    let other = verify(&["SHA256SUMS"], "other.pub");
    assert_eq!(other.code, 1, "{}", other.output());
    let missing = verify(&["pass.txt"], "release.pub");
    missing.fails_with("cannot read signature pass.txt.sig");
}
