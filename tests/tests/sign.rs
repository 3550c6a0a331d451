//! `generate-sigstore-key`, `sign` and `sign validate` against a real registry: cosign's key
//! format and signature layout, checked with an independent implementation (Python's
//! `cryptography` and PyNaCl, as Debian packages them).

use hangar_tests::hangar::{Env, Run};
use hangar_tests::images::{self, MultiArch};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use hangar_tests::serving;
use serde_json::Value;

/// Cosign's key format and signatures written independently of hangar.
const COSIGN_PY: &str = r#"
import base64, hashlib, json, os, sys
import nacl.secret
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

def unpem(text):
    lines = [l for l in text.strip().splitlines() if not l.startswith("-----")]
    return base64.b64decode("".join(lines))

def pem(label, body):
    b = base64.b64encode(body).decode()
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(b[i:i+64] for i in range(0, len(b), 64)), label)

def secret(passphrase, salt, params):
    return hashlib.scrypt(passphrase, salt=salt, n=params["N"], r=params["r"], p=params["p"], dklen=32, maxmem=128 << 20)

cmd = sys.argv[1]
if cmd == "public-of":          # KEY PASSPHRASE: decrypt a cosign key, print its public key
    sealed = json.loads(unpem(open(sys.argv[2]).read()))
    key = secret(sys.argv[3].encode(), base64.b64decode(sealed["kdf"]["salt"]), sealed["kdf"]["params"])
    der = nacl.secret.SecretBox(key).decrypt(base64.b64decode(sealed["ciphertext"]), base64.b64decode(sealed["cipher"]["nonce"]))
    private = serialization.load_der_private_key(der, None)
    print(private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(), end="")
elif cmd == "make-key":         # KEY PUB PASSPHRASE: a key as older cosign wrote it
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(24)
    params = {"N": 32768, "r": 8, "p": 1}
    box = nacl.secret.SecretBox(secret(sys.argv[4].encode(), salt, params)).encrypt(der, nonce)
    sealed = {"kdf": {"name": "scrypt", "params": params, "salt": base64.b64encode(salt).decode()},
              "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
              "ciphertext": base64.b64encode(box.ciphertext).decode()}
    open(sys.argv[2], "w").write(pem("ENCRYPTED COSIGN PRIVATE KEY", json.dumps(sealed).encode()))
    open(sys.argv[3], "wb").write(private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
elif cmd == "verify":           # PUB PAYLOAD-FILE SIGNATURE-B64
    public = serialization.load_pem_public_key(open(sys.argv[2], "rb").read())
    public.verify(base64.b64decode(sys.argv[4]), open(sys.argv[3], "rb").read(), ec.ECDSA(hashes.SHA256()))
    print("verified")
"#;

fn python(env: &Env, args: &[&str]) -> String {
    env.python("cosign.py", COSIGN_PY, args)
}

/// `hangar sign -f LIST -p KEY --passphrase-file pass.txt` against the plain-HTTP test registry.
fn sign_list(env: &Env, list: &str, key: &str) -> Run {
    env.run(&[
        "sign",
        "-f",
        list,
        "-p",
        key,
        "--passphrase-file",
        "pass.txt",
        "--tls-verify=false",
    ])
}

/// `hangar sign validate -f LIST -k KEY EXTRA...` against the plain-HTTP test registry.
fn validate_list(env: &Env, list: &str, key: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "sign",
        "validate",
        "-y",
        "-f",
        list,
        "-k",
        key,
        "--tls-verify=false",
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn keypair(env: &Env, prefix: &str, passphrase: &str) {
    env.write("pass.txt", &format!("{passphrase}\n"));
    let run = env.run(&[
        "generate-sigstore-key",
        "-p",
        prefix,
        "--passphrase-file",
        "pass.txt",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
}

/// The signature manifest of `digest` in `repo`, if any.
async fn signatures(pusher: &Pusher, repo: &str, digest: &str) -> Option<Value> {
    let tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    pusher
        .manifest(repo, &tag)
        .await
        .map(|m| serde_json::from_slice(&m.bytes).unwrap())
}

fn report(env: &Env, name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(env.path(name)).unwrap()).unwrap()
}

fn verified(report: &Value) -> Vec<(String, bool)> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["images"].as_array().unwrap().iter())
        .map(|i| {
            (
                i["digest"].as_str().unwrap().to_string(),
                i["verified"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn keys_are_cosigns_format_both_ways() {
    let env = Env::new();
    keypair(&env, "team", "s3cret-pass");
    let private = std::fs::read_to_string(env.path("team.key")).unwrap();
    assert!(private.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &str| std::fs::metadata(env.path(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("team.key"), mode("team.pub")), (0o600, 0o644));
    // Python decrypts hangar's key (scrypt + secretbox) to the same public key.
    let public = python(&env, &["public-of", "team.key", "s3cret-pass"]);
    assert_eq!(
        public,
        std::fs::read_to_string(env.path("team.pub")).unwrap()
    );
    // Existing files are not overwritten without -y (no terminal to ask).
    let again = env.run(&[
        "generate-sigstore-key",
        "-p",
        "team",
        "--passphrase-file",
        "pass.txt",
    ]);
    again.fails_with("team.key already exists");
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_then_validate_a_multi_arch_image() {
    let registry = RegistryServer::plain();
    let pusher = Pusher::new(&registry);
    let image = MultiArch::build(9100, 4000);
    pusher
        .push_index("team/app", "1", &image.index, &image.children())
        .await;
    pusher
        .push_image("team/unsigned", Some("1"), &images::single(9200, 3000))
        .await;
    let mut env = Env::new();
    keypair(&env, "k", "passphrase-1");
    env.write("list.txt", &format!("{}/team/app:1\n", registry.addr));
    let sign = |env: &Env, extra: &[&str]| -> Run {
        let mut args = vec![
            "sign",
            "-f",
            "list.txt",
            "--key",
            "k.key",
            "--passphrase-file",
            "pass.txt",
            "--tls-verify=false",
        ];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    let signed = sign(&env, &[]);
    assert_eq!(signed.code, 0, "{}", signed.output());

    // The index and the amd64 and arm64 images are signed (the default filter); arm/v7 is not.
    let digests = [
        image.index.digest.clone(),
        image.amd64.manifest.digest.clone(),
        image.arm64.manifest.digest.clone(),
    ];
    for digest in &digests {
        let manifest = signatures(&pusher, "team/app", digest)
            .await
            .unwrap_or_else(|| panic!("no signature for {digest}"));
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1);
        assert_eq!(
            layers[0]["mediaType"],
            "application/vnd.dev.cosign.simplesigning.v1+json"
        );
        let payload = pusher
            .blob("team/app", layers[0]["digest"].as_str().unwrap())
            .await;
        let expected = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{}/team/app"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#,
            registry.addr
        );
        assert_eq!(String::from_utf8(payload.to_vec()).unwrap(), expected);
        // Python verifies the signature over the payload with the public key.
        env.write("payload.json", &expected);
        let sig = layers[0]["annotations"]["dev.cosignproject.cosign/signature"]
            .as_str()
            .unwrap();
        assert_eq!(
            python(&env, &["verify", "k.pub", "payload.json", sig]),
            "verified\n"
        );
    }
    assert!(
        signatures(&pusher, "team/app", &image.armv7.manifest.digest)
            .await
            .is_none()
    );

    // Signing again adds nothing; another key appends its signature.
    let again = sign(&env, &[]);
    assert_eq!(again.code, 0, "{}", again.output());
    assert!(
        again.output().contains("is already signed by this key"),
        "{}",
        again.output()
    );
    let other = Env::new();
    python(&other, &["make-key", "old.key", "old.pub", "older-pass"]);
    std::fs::copy(other.path("old.key"), env.path("old.key")).unwrap();
    std::fs::copy(other.path("old.pub"), env.path("old.pub")).unwrap();
    env.set("COSIGN_PASSWORD", "older-pass");
    let appended = env.run(&[
        "sign",
        "-f",
        "list.txt",
        "--key",
        "old.key",
        "--tls-verify=false",
    ]);
    assert_eq!(appended.code, 0, "{}", appended.output());
    let manifest = signatures(&pusher, "team/app", &digests[0]).await.unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);

    // Validate with either key: every digest verified, report in each format.
    let validate = |env: &Env, key: &str, list: &str, extra: &[&str]| -> Run {
        let mut args = vec![
            "sign",
            "validate",
            "-y",
            "-f",
            list,
            "--key",
            key,
            "--tls-verify=false",
        ];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    for key in ["k.pub", "old.pub"] {
        let run = validate(&env, key, "list.txt", &[]);
        assert_eq!(run.code, 0, "{key}: {}", run.output());
        let got = verified(&report(&env, "sign-validate-report.json"));
        assert_eq!(
            got,
            digests
                .iter()
                .map(|d| (d.clone(), true))
                .collect::<Vec<_>>(),
            "{key}"
        );
    }
    let yaml = validate(&env, "k.pub", "list.txt", &["--format", "yaml"]);
    assert_eq!(yaml.code, 0, "{}", yaml.output());
    let text = std::fs::read_to_string(env.path("sign-validate-report.yaml")).unwrap();
    assert!(text.contains("\nresult:\n"), "{text}");
    let csv = validate(
        &env,
        "k.pub",
        "list.txt",
        &["--format", "csv", "-r", "out.csv"],
    );
    assert_eq!(csv.code, 0, "{}", csv.output());
    let rows: Vec<String> = std::fs::read_to_string(env.path("out.csv"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(rows[0].starts_with("image,arch,os,payload,digest,tlogVerify,mediaType"));
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(
        rows[2].contains(",amd64,linux,") && rows[2].contains(&digests[1]),
        "{}",
        rows[2]
    );

    // An unknown key, an unsigned image, and a signature moved onto another digest all fail.
    let stranger = Env::new();
    keypair(&stranger, "x", "stranger-pass");
    std::fs::copy(stranger.path("x.pub"), env.path("x.pub")).unwrap();
    let unknown = validate(&env, "x.pub", "list.txt", &[]);
    unknown.fails_with("no signature verifies with this key");
    assert_eq!(
        std::fs::read_to_string(env.path("sign-failed.txt"))
            .unwrap()
            .trim(),
        format!("{}/team/app:1", registry.addr)
    );
    assert!(
        verified(&report(&env, "sign-validate-report.json"))
            .iter()
            .all(|(_, ok)| !ok)
    );

    env.write(
        "both.txt",
        &format!("{0}/team/app:1\n{0}/team/unsigned:1\n", registry.addr),
    );
    let mixed = validate(&env, "k.pub", "both.txt", &[]);
    mixed.fails_with("/team/unsigned@sha256:");
    assert!(
        mixed.output().contains("no signature"),
        "{}",
        mixed.output()
    );
    assert_eq!(
        std::fs::read_to_string(env.path("sign-failed.txt"))
            .unwrap()
            .trim(),
        format!("{}/team/unsigned:1", registry.addr)
    );

    // A signature copied onto another digest's tag names the wrong digest: rejected.
    let moved = signatures(&pusher, "team/app", &digests[1]).await.unwrap();
    let armv7_tag = format!(
        "sha256-{}.sig",
        image.armv7.manifest.digest.trim_start_matches("sha256:")
    );
    pusher
        .push_manifest(
            "team/app",
            &armv7_tag,
            &images::Blob::new(
                "application/vnd.oci.image.manifest.v1+json",
                serde_json::to_vec(&moved).unwrap(),
            ),
        )
        .await;
    let tampered = validate(&env, "k.pub", "list.txt", &["--arch", "arm"]);
    tampered.fails_with(&format!("the signature is for {}", digests[1]));
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_can_live_in_another_repository_and_offline_limits_are_clear() {
    let registry = RegistryServer::plain();
    let pusher = Pusher::new(&registry);
    let image = images::single(9300, 3000);
    pusher.push_image("team/solo", Some("2"), &image).await;
    let mut env = Env::new();
    keypair(&env, "k", "passphrase-2");
    env.write("list.txt", &format!("{}/team/solo:2\n", registry.addr));
    env.set(
        "COSIGN_REPOSITORY",
        &format!("{}/signatures/team", registry.addr),
    );
    let signed = sign_list(&env, "list.txt", "k.key");
    assert_eq!(signed.code, 0, "{}", signed.output());
    assert!(
        signatures(&pusher, "signatures/team", &image.manifest.digest)
            .await
            .is_some()
    );
    assert!(
        signatures(&pusher, "team/solo", &image.manifest.digest)
            .await
            .is_none()
    );
    let valid = validate_list(&env, "list.txt", "k.pub", &[]);
    assert_eq!(valid.code, 0, "{}", valid.output());

    let wrong = env.write("wrong.txt", "not-it\n");
    let bad_pass = env.run(&[
        "sign",
        "-f",
        "list.txt",
        "-p",
        "k.key",
        "--passphrase-file",
        wrong.to_str().unwrap(),
        "--tls-verify=false",
    ]);
    bad_pass.fails_with("k.key: wrong passphrase");
    let keyless = env.run(&[
        "sign",
        "-f",
        "list.txt",
        "--oidc-provider",
        "github-actions",
    ]);
    keyless.fails_with("keyless signing (--oidc-provider github-actions) needs network access");
    let tlog = env.run(&["sign", "-f", "list.txt", "-p", "k.key", "--tlog-upload"]);
    tlog.fails_with("--tlog-upload needs network access");
    let no_key = env.run(&["sign", "-f", "list.txt"]);
    assert!(
        no_key.output().contains("private key file not provided"),
        "{}",
        no_key.output()
    );
}

/// Pushes an SPDX document as an OCI 1.1 referrer of `subject` (a platform manifest) and lists
/// it in the referrers tag schema's index (`sha256-HEX`), as tools do on registries without
/// the referrers API. Returns the referrer manifest and the SBOM blob.
async fn push_sbom_referrer(
    pusher: &Pusher,
    repo: &str,
    subject: &images::Blob,
) -> (images::Blob, images::Blob) {
    let sbom = images::Blob::new(
        "application/spdx+json",
        format!(
            r#"{{"spdxVersion":"SPDX-2.3","name":"{}"}}"#,
            subject.digest
        ),
    );
    let empty = images::Blob::new("application/vnd.oci.empty.v1+json", "{}");
    pusher.push_blob(repo, &sbom).await;
    pusher.push_blob(repo, &empty).await;
    let mut subject_descriptor = subject.descriptor();
    subject_descriptor
        .as_object_mut()
        .unwrap()
        .remove("platform");
    let referrer = images::Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/spdx+json",
            "config": empty.descriptor(),
            "layers": [sbom.descriptor()], "subject": subject_descriptor,
        }))
        .unwrap(),
    );
    pusher
        .push_manifest(repo, &referrer.digest, &referrer)
        .await;
    let mut listed = referrer.descriptor();
    listed["artifactType"] = serde_json::json!("application/spdx+json");
    let fallback = images::Blob::new(
        "application/vnd.oci.image.index.v1+json",
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [listed],
        }))
        .unwrap(),
    );
    let tag = format!("sha256-{}", subject.digest.trim_start_matches("sha256:"));
    pusher.push_manifest(repo, &tag, &fallback).await;
    (referrer, sbom)
}

/// A signed image stays verifiable after `mirror`: cosign tags and referrers come along;
/// signatures already at the destination are kept; `--remove-signatures` leaves them behind.
#[tokio::test(flavor = "multi_thread")]
async fn mirror_carries_signatures_attestations_and_referrers() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let sp = Pusher::new(&src);
    let dp = Pusher::new(&dst);
    let image = MultiArch::build(9400, 3000);
    sp.push_index("team/app", "1", &image.index, &image.children())
        .await;
    let env = Env::new();
    keypair(&env, "k", "passphrase-3");
    env.write("src.txt", &format!("{}/team/app:1\n", src.addr));
    let signed = sign_list(&env, "src.txt", "k.key");
    assert_eq!(signed.code, 0, "{}", signed.output());

    // An in-toto attestation in cosign's .att tag, and an SBOM referrer (OCI 1.1 subject)
    // listed in the referrers tag schema, as tools do on registries without the API.
    let amd64 = image.amd64.manifest.digest.clone();
    let arm64 = image.arm64.manifest.digest.clone();
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let envelope = images::Blob::new(
        "application/vnd.dsse.envelope.v1+json",
        r#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}"#,
    );
    let empty = images::Blob::new("application/vnd.oci.image.config.v1+json", "{}");
    sp.push_blob("team/app", &envelope).await;
    sp.push_blob("team/app", &empty).await;
    let attestation = images::Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": empty.descriptor(), "layers": [envelope.descriptor()],
        }))
        .unwrap(),
    );
    sp.push_manifest(
        "team/app",
        &format!("sha256-{}.att", hex(&amd64)),
        &attestation,
    )
    .await;
    let (referrer, sbom) = push_sbom_referrer(&sp, "team/app", &image.arm64.manifest).await;

    // env.mirror reads list.txt.
    env.write("list.txt", &format!("{}/team/app:1 team/app 1\n", src.addr));
    // Every platform: the index arrives unchanged, so its signature applies too.
    let all = ["--arch", "amd64,arm64,arm"];
    let mirrored = env.mirror(&dst.addr, &all);
    assert_eq!(mirrored.code, 0, "{}", mirrored.output());
    for digest in [&image.index.digest, &amd64, &arm64] {
        let tag = format!("sha256-{}.sig", hex(digest));
        assert_eq!(
            dp.manifest("team/app", &tag).await.map(|m| m.digest),
            sp.manifest("team/app", &tag).await.map(|m| m.digest),
            "{tag}"
        );
    }
    let att = format!("sha256-{}.att", hex(&amd64));
    assert_eq!(
        dp.manifest("team/app", &att).await.unwrap().digest,
        attestation.digest
    );
    assert!(dp.blob_exists("team/app", &envelope.digest).await);
    assert_eq!(
        dp.manifest("team/app", &referrer.digest)
            .await
            .unwrap()
            .digest,
        referrer.digest
    );
    assert!(dp.blob_exists("team/app", &sbom.digest).await);
    let dst_fallback: Value = serde_json::from_slice(
        &dp.manifest("team/app", &format!("sha256-{}", hex(&arm64)))
            .await
            .unwrap()
            .bytes,
    )
    .unwrap();
    assert_eq!(
        dst_fallback["manifests"][0]["digest"],
        referrer.digest.as_str()
    );

    // Verifiable at the destination.
    env.write("dst.txt", &format!("{}/team/app:1\n", dst.addr));
    let valid = validate_list(&env, "dst.txt", "k.pub", &[]);
    assert_eq!(valid.code, 0, "{}", valid.output());

    // The destination's own signatures survive a new mirror run.
    keypair(&env, "site", "site-pass");
    let site_signed = sign_list(&env, "dst.txt", "site.key");
    assert_eq!(site_signed.code, 0, "{}", site_signed.output());
    let again = env.mirror(&dst.addr, &all);
    assert_eq!(again.code, 0, "{}", again.output());
    for key in ["k.pub", "site.pub"] {
        let run = env.run(&[
            "sign",
            "validate",
            "-y",
            "-f",
            "dst.txt",
            "-k",
            key,
            "--tls-verify=false",
        ]);
        assert_eq!(run.code, 0, "{key}: {}", run.output());
    }

    // A subset of the platforms makes a new index at the destination: the platform
    // signatures apply there, the source index's does not.
    let subset = RegistryServer::plain();
    let run = env.mirror(&subset.addr, &[]);
    assert_eq!(run.code, 0, "{}", run.output());
    let up = Pusher::new(&subset);
    for (digest, present) in [(&image.index.digest, false), (&amd64, true), (&arm64, true)] {
        let tag = format!("sha256-{}.sig", hex(digest));
        assert_eq!(
            up.manifest("team/app", &tag).await.is_some(),
            present,
            "{tag}"
        );
    }
    env.write("subset.txt", &format!("{}/team/app:1\n", subset.addr));
    let platforms_only = env.run(&[
        "sign",
        "validate",
        "-y",
        "-f",
        "subset.txt",
        "-k",
        "k.pub",
        "--tls-verify=false",
        "--validate-manifest-index=false",
    ]);
    assert_eq!(platforms_only.code, 0, "{}", platforms_only.output());

    // A dry run writes nothing, attachments included.
    let dry = RegistryServer::plain();
    let run = env.mirror(&dry.addr, &["--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(Pusher::new(&dry).tags("team/app").await.is_empty());

    // --remove-signatures copies the image alone.
    let bare = RegistryServer::plain();
    let run = env.mirror(&bare.addr, &["--remove-signatures"]);
    assert_eq!(run.code, 0, "{}", run.output());
    let bp = Pusher::new(&bare);
    assert!(bp.manifest("team/app", "1").await.is_some());
    let tags = bp.tags("team/app").await;
    assert_eq!(tags, ["1"], "{tags:?}");
}

/// Archives carry the signatures of the saved platform digests; load puts them back, so the
/// image is verifiable on the far side of the air gap.
#[tokio::test(flavor = "multi_thread")]
async fn archives_carry_signatures_across_the_gap() {
    let src = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let image = MultiArch::build(9500, 3000);
    sp.push_index("team/app", "1", &image.index, &image.children())
        .await;
    sp.push_image("team/other", Some("1"), &images::single(9600, 2000))
        .await;
    let env = Env::new();
    keypair(&env, "k", "passphrase-4");
    env.write(
        "list.txt",
        &format!("{0}/team/app:1\n{0}/team/other:1\n", src.addr),
    );
    let signed = sign_list(&env, "list.txt", "k.key");
    assert_eq!(signed.code, 0, "{}", signed.output());
    let (referrer, sbom) = push_sbom_referrer(&sp, "team/app", &image.arm64.manifest).await;
    let saved = env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "a.zip",
        "--tls-verify=false",
        "-y",
    ]);
    assert_eq!(saved.code, 0, "{}", saved.output());
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let ls = env.run(&["archive", "ls", "a.zip", "--image-only"]);
    let listed: Vec<&str> = ls.stdout.lines().collect();
    let sig = |d: &str| format!("sha256-{}.sig", hex(d));
    for digest in [&image.amd64.manifest.digest, &image.arm64.manifest.digest] {
        assert!(
            listed.contains(&format!("{}/team/app:{}", src.addr, sig(digest)).as_str()),
            "{listed:?}"
        );
    }
    let referrers_tag = format!("sha256-{}", hex(&image.arm64.manifest.digest));
    assert!(
        listed.contains(&format!("{}/team/app:{referrers_tag}", src.addr).as_str()),
        "{listed:?}"
    );
    let table = env.run(&["archive", "ls", "a.zip"]);
    for kind in ["| (cosign signature)", "| (referrers)"] {
        assert!(table.output().contains(kind), "{kind}: {}", table.output());
    }

    let far = RegistryServer::plain();
    let fp = Pusher::new(&far);
    let loaded = env.run(&["load", "-s", "a.zip", "-d", &far.addr, "--tls-verify=false"]);
    assert_eq!(loaded.code, 0, "{}", loaded.output());
    for digest in [&image.amd64.manifest.digest, &image.arm64.manifest.digest] {
        assert_eq!(
            fp.manifest("team/app", &sig(digest))
                .await
                .map(|m| m.digest),
            sp.manifest("team/app", &sig(digest))
                .await
                .map(|m| m.digest)
        );
    }
    // The referrer is back, listed in the tag schema's index with its artifact type, and
    // `view sbom` finds the document through it.
    assert_eq!(
        fp.manifest("team/app", &referrer.digest)
            .await
            .map(|m| m.digest),
        Some(referrer.digest.clone())
    );
    assert!(fp.blob_exists("team/app", &sbom.digest).await);
    let fallback: Value =
        serde_json::from_slice(&fp.manifest("team/app", &referrers_tag).await.unwrap().bytes)
            .unwrap();
    assert_eq!(
        (
            fallback["manifests"][0]["digest"].as_str(),
            fallback["manifests"][0]["artifactType"].as_str()
        ),
        (
            Some(referrer.digest.as_str()),
            Some("application/spdx+json")
        )
    );
    let viewed = env.run(&[
        "view",
        "sbom",
        &format!("{}/team/app:1", far.addr),
        "--override-arch",
        "arm64",
        "--tls-verify=false",
    ]);
    assert_eq!(viewed.code, 0, "{}", viewed.output());
    assert_eq!(
        serde_json::from_str::<Value>(&viewed.stdout).unwrap(),
        serde_json::from_slice::<Value>(&sbom.data).unwrap()
    );
    // Loading again changes nothing.
    let again = env.run(&["load", "-s", "a.zip", "-d", &far.addr, "--tls-verify=false"]);
    assert_eq!(again.code, 0, "{}", again.output());
    assert!(
        again
            .output()
            .lines()
            .any(|l| l.contains(&referrers_tag) && l.contains("up to date")),
        "the referrers are known the second time: {}",
        again.output()
    );
    // load validate finds the referrers where load put them; where they were left out it
    // names the missing one.
    let validated = env.run(&[
        "load",
        "validate",
        "-s",
        "a.zip",
        "-d",
        &far.addr,
        "--tls-verify=false",
    ]);
    assert_eq!(validated.code, 0, "{}", validated.output());
    let partial = RegistryServer::plain();
    let run = env.run(&[
        "load",
        "-s",
        "a.zip",
        "-d",
        &partial.addr,
        "--tls-verify=false",
        "--remove-signatures",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    let invalid = env.run(&[
        "load",
        "validate",
        "-s",
        "a.zip",
        "-d",
        &partial.addr,
        "--tls-verify=false",
    ]);
    assert_eq!(invalid.code, 1, "{}", invalid.output());
    assert!(
        invalid
            .output()
            .contains(&format!("Referrer [{}] of [", referrer.digest)),
        "{}",
        invalid.output()
    );
    // serve shows the saved referrers as the tag schema's index, so clients find them.
    let served = serving::serve(&env, "a.zip");
    let viewed = env.run(&[
        "view",
        "sbom",
        &format!("{}/team/app:1", served.addr),
        "--override-arch",
        "arm64",
        "--tls-verify=false",
    ]);
    assert_eq!(viewed.code, 0, "{}", viewed.output());
    assert_eq!(
        serde_json::from_str::<Value>(&viewed.stdout).unwrap(),
        serde_json::from_slice::<Value>(&sbom.data).unwrap()
    );
    assert_eq!(
        serde_json::from_slice::<Value>(
            &fp.manifest("team/app", &referrers_tag).await.unwrap().bytes
        )
        .unwrap()["manifests"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    env.write(
        "far.txt",
        &format!("{0}/team/app:1\n{0}/team/other:1\n", far.addr),
    );
    let valid = env.run(&[
        "sign",
        "validate",
        "-y",
        "-f",
        "far.txt",
        "-k",
        "k.pub",
        "--tls-verify=false",
        "--validate-manifest-index=false",
    ]);
    assert_eq!(valid.code, 0, "{}", valid.output());

    // Selecting one image with -f brings its signatures; --remove-signatures leaves them.
    let picked = RegistryServer::plain();
    env.write("pick.txt", &format!("{}/team/other:1\n", src.addr));
    let run = env.run(&[
        "load",
        "-s",
        "a.zip",
        "-d",
        &picked.addr,
        "-f",
        "pick.txt",
        "--tls-verify=false",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    let pp = Pusher::new(&picked);
    let other = sp.manifest("team/other", "1").await.unwrap().digest;
    assert!(pp.manifest("team/other", &sig(&other)).await.is_some());
    assert!(pp.tags("team/app").await.is_empty());
    let bare = RegistryServer::plain();
    let run = env.run(&[
        "load",
        "-s",
        "a.zip",
        "-d",
        &bare.addr,
        "--tls-verify=false",
        "--remove-signatures",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(Pusher::new(&bare).tags("team/other").await, ["1"]);
    assert_eq!(Pusher::new(&bare).tags("team/app").await, ["1"]);
    let unsigned = env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "b.zip",
        "--tls-verify=false",
        "-y",
        "--remove-signatures",
    ]);
    assert_eq!(unsigned.code, 0, "{}", unsigned.output());
    let ls = env.run(&["archive", "ls", "b.zip", "--image-only"]);
    assert_eq!(ls.stdout.lines().count(), 2, "{}", ls.stdout);
}

/// A key held in a PKCS#11 token (softhsm2, loaded at run time) signs; its signatures verify
/// with the public key.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_in_a_pkcs11_token_signs() {
    const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
    assert!(
        std::path::Path::new(MODULE).is_file(),
        "{MODULE}: missing; tests/install-deps installs softhsm2"
    );
    let registry = RegistryServer::plain();
    let image = images::single(9700, 2000);
    Pusher::new(&registry)
        .push_image("team/hsm", Some("1"), &image)
        .await;
    let mut env = Env::new();
    std::fs::create_dir_all(env.path("tokens")).unwrap();
    let conf = env.write(
        "softhsm2.conf",
        &format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            env.path("tokens").display()
        ),
    );
    env.set("SOFTHSM2_CONF", conf.to_str().unwrap());
    let tool = |args: &[&str]| {
        let out = std::process::Command::new(args[0])
            .args(&args[1..])
            .env("SOFTHSM2_CONF", &conf)
            .current_dir(env.path(""))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    tool(&[
        "softhsm2-util",
        "--init-token",
        "--free",
        "--label",
        "hangar",
        "--so-pin",
        "4321",
        "--pin",
        "1234",
    ]);
    tool(&[
        "openssl",
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "ec.pem",
    ]);
    tool(&[
        "openssl", "pkcs8", "-topk8", "-nocrypt", "-in", "ec.pem", "-out", "ec8.pem",
    ]);
    tool(&[
        "openssl", "ec", "-in", "ec.pem", "-pubout", "-out", "hsm.pub",
    ]);
    tool(&[
        "softhsm2-util",
        "--import",
        "ec8.pem",
        "--token",
        "hangar",
        "--label",
        "signing",
        "--id",
        "01",
        "--pin",
        "1234",
    ]);
    std::fs::remove_file(env.path("ec.pem")).unwrap();
    std::fs::remove_file(env.path("ec8.pem")).unwrap();

    env.write("list.txt", &format!("{}/team/hsm:1\n", registry.addr));
    env.write("pin.txt", "1234\n");
    let uri = format!("pkcs11:token=hangar;object=signing?module-path={MODULE}");
    let signed = env.run(&[
        "sign",
        "-f",
        "list.txt",
        "--key",
        &uri,
        "--passphrase-file",
        "pin.txt",
        "--tls-verify=false",
    ]);
    assert_eq!(signed.code, 0, "{}", signed.output());
    let valid = validate_list(&env, "list.txt", "hsm.pub", &[]);
    assert_eq!(valid.code, 0, "{}", valid.output());
    // Signing again with the PIN in the URI finds the token's earlier signature.
    let again = env.run(&[
        "sign",
        "-f",
        "list.txt",
        "--key",
        &format!("{uri}&pin-value=1234"),
        "--tls-verify=false",
    ]);
    assert_eq!(again.code, 0, "{}", again.output());
    assert!(
        again.output().contains("is already signed by this key"),
        "{}",
        again.output()
    );

    env.write("wrong.txt", "9999\n");
    let wrong = env.run(&[
        "sign",
        "-f",
        "list.txt",
        "--key",
        &uri,
        "--passphrase-file",
        "wrong.txt",
        "--tls-verify=false",
    ]);
    wrong.fails_with("PKCS#11 login to token \"hangar\"");
    let missing = env.run(&[
        "sign",
        "-f",
        "list.txt",
        "--key",
        &format!("pkcs11:token=hangar;object=nope?module-path={MODULE}&pin-value=1234"),
        "--tls-verify=false",
    ]);
    missing.fails_with("no private key matching");
}
