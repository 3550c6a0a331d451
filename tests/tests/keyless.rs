//! Keyless (Fulcio certificate + Rekor bundle) and key + Rekor signatures, verified offline
//! end to end. The test makes its own Fulcio-like CA (root and intermediate, P-384, with
//! Fulcio's OIDC-issuer extensions) and Rekor key with Python's `cryptography`, signs images
//! in a local registry the way cosign lays keyless signatures out (certificate, chain and
//! bundle annotations on the simple-signing layer), and checks them with `sign validate`
//! (exact and regular-expression identities, PEM chain and trusted_root.json) and through a
//! signature policy's `fulcio` requirement on `mirror`.

use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Blob};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use serde_json::{Value, json};

/// A Fulcio-like CA and a Rekor log, written independently of hangar.
const SIGSTORE_PY: &str = r#"
import base64, datetime, hashlib, json, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

def now():
    return datetime.datetime.now(datetime.timezone.utc)

def save_key(path, key):
    open(path, "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

def load_key(path):
    return serialization.load_pem_private_key(open(path, "rb").read(), None)

def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

def public_der(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hangar-test"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])

def ca_cert(subject, key, issuer, issuer_key, days):
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now() - datetime.timedelta(days=1)).not_valid_after(now() + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(issuer_key, hashes.SHA384()))

def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()

def b64(data):
    return base64.b64encode(data).decode()

def logged(rekor, body, integrated):
    entry = {"body": b64(json.dumps(body).encode()), "integratedTime": integrated,
             "logID": hashlib.sha256(public_der(rekor)).hexdigest(), "logIndex": 7}
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    return json.dumps({"SignedEntryTimestamp": b64(rekor.sign(canonical, ec.ECDSA(hashes.SHA256()))), "Payload": entry})

def hashedrekord(payload, signature, public):
    return {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}},
        "signature": {"content": b64(signature), "publicKey": {"content": b64(public)}}}}

cmd = sys.argv[1]
if cmd == "trust":              # DIR: root, intermediate, Rekor keys, chain.pem, trusted_root.json, an unrelated root
    d = sys.argv[2]
    root_key, inter_key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    root = ca_cert(name("test-fulcio-root"), root_key, name("test-fulcio-root"), root_key, 3650)
    inter = ca_cert(name("test-fulcio-intermediate"), inter_key, root.subject, root_key, 365)
    save_key(d + "/intermediate.key", inter_key)
    open(d + "/root.pem", "w").write(pem(root))
    open(d + "/intermediate.pem", "w").write(pem(inter))
    open(d + "/chain.pem", "w").write(pem(inter) + pem(root))
    stranger_key = ec.generate_private_key(ec.SECP384R1())
    open(d + "/other-root.pem", "w").write(pem(ca_cert(name("another-root"), stranger_key, name("another-root"), stranger_key, 3650)))
    for n in ("rekor", "other-rekor"):
        key = ec.generate_private_key(ec.SECP256R1())
        save_key("%s/%s.key" % (d, n), key)
        open("%s/%s.pub" % (d, n), "wb").write(public_pem(key))
    rekor = load_key(d + "/rekor.key")
    trusted = {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{"baseUrl": "https://rekor.test", "hashAlgorithm": "SHA2_256",
                   "publicKey": {"rawBytes": b64(public_der(rekor)), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                 "validFor": {"start": "2020-01-01T00:00:00.000Z"}},
                   "logId": {"keyId": b64(hashlib.sha256(public_der(rekor)).digest())}}],
        "certificateAuthorities": [{"subject": {"organization": "hangar-test", "commonName": "test-fulcio"},
            "uri": "https://fulcio.test",
            "certChain": {"certificates": [{"rawBytes": b64(c.public_bytes(serialization.Encoding.DER))} for c in (inter, root)]},
            "validFor": {"start": "2020-01-01T00:00:00Z"}}],
        "ctlogs": [], "timestampAuthorities": []}
    open(d + "/trusted_root.json", "w").write(json.dumps(trusted, indent=2))
elif cmd == "keyless":          # DIR PAYLOAD SUBJECT ISSUER LOGGED-AFTER-SECONDS
    d, payload, subject, issuer, delay = sys.argv[2], open(sys.argv[3], "rb").read(), sys.argv[4], sys.argv[5], int(sys.argv[6])
    inter_key, inter = load_key(d + "/intermediate.key"), x509.load_pem_x509_certificate(open(d + "/intermediate.pem", "rb").read())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    san = x509.RFC822Name(subject) if "@" in subject else x509.UniformResourceIdentifier(subject)
    issued = now().replace(microsecond=0)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(inter.subject)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(issued).not_valid_after(issued + datetime.timedelta(minutes=10))
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            # Fulcio's OIDC issuer: the raw string (v1) and a DER UTF8String (v2).
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), issuer.encode()), critical=False)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), b"\x0c" + bytes([len(issuer)]) + issuer.encode()), critical=False)
            .sign(inter_key, hashes.SHA384()))
    signature = leaf_key.sign(payload, ec.ECDSA(hashes.SHA256()))
    body = hashedrekord(payload, signature, pem(cert).encode())
    rekor = load_key(d + "/rekor.key")
    print(json.dumps({"signature": b64(signature), "certificate": pem(cert),
                      "chain": open(d + "/chain.pem").read(),
                      "bundle": logged(rekor, body, int(issued.timestamp()) + delay)}))
elif cmd == "key-logged":       # DIR KEY PAYLOAD: a key-made signature with its Rekor bundle
    d, key, payload = sys.argv[2], load_key(sys.argv[3]), open(sys.argv[4], "rb").read()
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    body = hashedrekord(payload, signature, public_pem(key))
    print(json.dumps({"signature": b64(signature),
                      "bundle": logged(load_key(d + "/rekor.key"), body, int(now().timestamp()))}))
elif cmd == "key":              # PATH: a plain P-256 key pair, PATH.key and PATH.pub
    key = ec.generate_private_key(ec.SECP256R1())
    save_key(sys.argv[2] + ".key", key)
    open(sys.argv[2] + ".pub", "wb").write(public_pem(key))
"#;

fn python(env: &Env, args: &[&str]) -> String {
    env.python("sigstore.py", SIGSTORE_PY, args)
}

/// cosign's simple-signing payload for `digest` signed as `repository`.
fn payload(repository: &str, digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{repository}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

/// Pushes one signature to `repo`'s `sha256-HEX.sig` tag, laid out as cosign does: the
/// payload as a simple-signing layer whose annotations hold the signature and, as given, the
/// certificate, chain and Rekor bundle.
async fn push_signature(pusher: &Pusher, repo: &str, digest: &str, payload: &[u8], made: &Value) {
    let layer = Blob::new(
        "application/vnd.dev.cosign.simplesigning.v1+json",
        payload.to_vec(),
    );
    let config = Blob::new(
        "application/vnd.oci.image.config.v1+json",
        serde_json::to_vec(&json!({
            "architecture": "", "os": "", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]}
        }))
        .unwrap(),
    );
    let mut annotations = json!({"dev.cosignproject.cosign/signature": made["signature"]});
    for (field, annotation) in [
        ("certificate", "dev.sigstore.cosign/certificate"),
        ("chain", "dev.sigstore.cosign/chain"),
        ("bundle", "dev.sigstore.cosign/bundle"),
    ] {
        if let Some(value) = made.get(field) {
            annotations[annotation] = value.clone();
        }
    }
    let mut descriptor = layer.descriptor();
    descriptor["annotations"] = annotations;
    let manifest = Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config.descriptor(),
            "layers": [descriptor]
        }))
        .unwrap(),
    );
    pusher.push_blob(repo, &layer).await;
    pusher.push_blob(repo, &config).await;
    let tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    pusher.push_manifest(repo, &tag, &manifest).await;
}

/// Pushes `repo:1` and signs it keyless as `subject` through `issuer`, logged `delay`
/// seconds after the certificate was issued. Returns the image's digest.
async fn keyless_image(
    env: &Env,
    registry: &RegistryServer,
    repo: &str,
    seed: u64,
    subject: &str,
    issuer: &str,
    delay: i64,
) -> String {
    let pusher = Pusher::new(registry);
    let image = images::single(seed, 4000);
    pusher.push_image(repo, Some("1"), &image).await;
    let digest = image.manifest.digest.clone();
    let payload = payload(&format!("{}/{repo}", registry.addr), &digest);
    let file = format!("payload-{seed}.json");
    std::fs::write(env.path(&file), &payload).unwrap();
    let made: Value = serde_json::from_str(&python(
        env,
        &["keyless", ".", &file, subject, issuer, &delay.to_string()],
    ))
    .unwrap();
    push_signature(&pusher, repo, &digest, &payload, &made).await;
    digest
}

/// `sign validate` of `list` with `extra` flags; returns (exit code, output, report).
fn validate(env: &Env, list: &str, extra: &[&str]) -> (i32, String, Value) {
    let report = env.path("report.json");
    let _ = std::fs::remove_file(&report);
    let mut args = vec![
        "sign",
        "validate",
        "-f",
        list,
        "--tls-verify=false",
        "-r",
        "report.json",
    ];
    args.extend_from_slice(extra);
    let run = env.run(&args);
    let report = std::fs::read(&report)
        .map(|bytes| serde_json::from_slice(&bytes).unwrap())
        .unwrap_or(Value::Null);
    (run.code, run.output(), report)
}

/// Each image's (digest, verified, error) in a report.
fn verdicts(report: &Value) -> Vec<(String, bool, String)> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["images"].as_array().unwrap().iter())
        .map(|i| {
            (
                i["digest"].as_str().unwrap().to_string(),
                i["verified"].as_bool().unwrap(),
                i["error"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

const ISSUER: &str = "https://issuer.example";

#[tokio::test(flavor = "multi_thread")]
async fn keyless_signatures_verify_offline_and_gate_a_mirror() {
    let registry = RegistryServer::plain();
    let env = Env::new();
    python(&env, &["trust", "."]);
    let alice = keyless_image(
        &env,
        &registry,
        "team/alice",
        9500,
        "alice@example.com",
        ISSUER,
        30,
    )
    .await;
    let bob = keyless_image(
        &env,
        &registry,
        "team/bob",
        9501,
        "bob@example.com",
        ISSUER,
        30,
    )
    .await;
    let ci = keyless_image(
        &env,
        &registry,
        "team/ci",
        9502,
        "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main",
        "https://token.actions.githubusercontent.com",
        30,
    )
    .await;
    // Logged an hour after issue: the ten-minute certificate had expired by then.
    let late = keyless_image(
        &env,
        &registry,
        "team/late",
        9503,
        "alice@example.com",
        ISSUER,
        3600,
    )
    .await;
    let addr = &registry.addr;
    env.write("alice.txt", &format!("{addr}/team/alice:1\n"));
    env.write(
        "all.txt",
        &format!("{addr}/team/alice:1\n{addr}/team/bob:1\n{addr}/team/ci:1\n{addr}/team/late:1\n"),
    );
    let chain = [
        "--certificate-chain",
        "chain.pem",
        "--rekor-key",
        "rekor.pub",
    ];

    // Exact identity, PEM chain and Rekor key.
    let mut flags = vec![
        "--certificate-identity",
        "alice@example.com",
        "--certificate-oidc-issuer",
        ISSUER,
    ];
    flags.extend_from_slice(&chain);
    let (code, out, report) = validate(&env, "alice.txt", &flags);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        verdicts(&report),
        vec![(alice.clone(), true, String::new())]
    );

    // Regular expressions and the trusted root: alice and bob pass, the CI identity does
    // not match, the late entry is outside its certificate.
    let (code, out, report) = validate(
        &env,
        "all.txt",
        &[
            "--certificate-identity-regexp",
            r"^[a-z]+@example\.com$",
            "--certificate-oidc-issuer-regexp",
            r"^https://issuer\.",
            "--trusted-root",
            "trusted_root.json",
            "-o",
            "failed.txt",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let got = verdicts(&report);
    assert_eq!(got[0], (alice.clone(), true, String::new()));
    assert_eq!(got[1], (bob.clone(), true, String::new()));
    assert_eq!(got[2].0, ci);
    assert!(
        !got[2].1
            && got[2]
                .2
                .contains("through \"https://token.actions.githubusercontent.com\""),
        "{got:?}"
    );
    assert_eq!(got[3].0, late);
    assert!(
        !got[3].1
            && got[3]
                .2
                .contains("not valid at the time the signature was logged"),
        "{got:?}"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("failed.txt")).unwrap(),
        format!("{addr}/team/ci:1\n{addr}/team/late:1\n")
    );

    // A workflow identity (a SAN URI) by exact match.
    env.write("ci.txt", &format!("{addr}/team/ci:1\n"));
    let (code, out, report) = validate(
        &env,
        "ci.txt",
        &[
            "--certificate-identity",
            "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main",
            "--certificate-oidc-issuer",
            "https://token.actions.githubusercontent.com",
            "--trusted-root",
            "trusted_root.json",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(verdicts(&report)[0].1);

    // Each wrong piece of trust refuses alice's signature with its reason.
    for (extra, reason) in [
        (
            vec![
                "--certificate-identity",
                "bob@example.com",
                "--certificate-oidc-issuer",
                ISSUER,
                "--trusted-root",
                "trusted_root.json",
            ],
            "not \"bob@example.com\"",
        ),
        (
            vec![
                "--certificate-identity",
                "alice@example.com",
                "--certificate-oidc-issuer",
                "https://accounts.example",
                "--trusted-root",
                "trusted_root.json",
            ],
            "issued through",
        ),
        (
            vec![
                "--certificate-identity",
                "alice@example.com",
                "--certificate-oidc-issuer",
                ISSUER,
                "--certificate-chain",
                "chain.pem",
                "--rekor-key",
                "other-rekor.pub",
            ],
            "not signed by the given Rekor key",
        ),
        (
            vec![
                "--certificate-identity",
                "alice@example.com",
                "--certificate-oidc-issuer",
                ISSUER,
                "--ca-roots",
                "other-root.pem",
                "--rekor-key",
                "rekor.pub",
            ],
            "does not chain",
        ),
    ] {
        let (code, out, report) = validate(&env, "alice.txt", &extra);
        assert_eq!(code, 1, "{extra:?}: {out}");
        let got = verdicts(&report);
        assert!(!got[0].1 && got[0].2.contains(reason), "{extra:?}: {got:?}");
    }
    // Not enough to go on: one line naming what is missing, no report.
    for (extra, line) in [
        (
            vec![
                "--certificate-identity",
                "alice@example.com",
                "--certificate-oidc-issuer",
                ISSUER,
                "--rekor-key",
                "rekor.pub",
            ],
            "needs the certificate authority's root",
        ),
        (
            vec![
                "--certificate-identity",
                "alice@example.com",
                "--certificate-oidc-issuer",
                ISSUER,
                "--certificate-chain",
                "chain.pem",
            ],
            "needs a Rekor public key",
        ),
        (
            vec![
                "--certificate-identity",
                "alice@example.com",
                "--trusted-root",
                "trusted_root.json",
            ],
            "needs --certificate-oidc-issuer or --certificate-oidc-issuer-regexp",
        ),
        (
            vec![
                "--certificate-identity-regexp",
                "(",
                "--certificate-oidc-issuer",
                ISSUER,
                "--trusted-root",
                "trusted_root.json",
            ],
            "--certificate-identity-regexp \"(\" is not a regular expression",
        ),
    ] {
        let (code, out, report) = validate(&env, "alice.txt", &extra);
        assert_ne!(code, 0, "{extra:?}");
        assert!(out.contains(line), "{extra:?}: {out}");
        assert!(report.is_null(), "{extra:?}");
    }

    // The policy gate: keyless from alice only, for the team namespace.
    let policy = json!({
        "default": [{"type": "reject"}],
        "transports": {"docker": {
            format!("{addr}/team"): [{
                "type": "sigstoreSigned",
                "fulcio": {"caPath": env.path("root.pem"), "oidcIssuer": ISSUER, "subjectEmail": "alice@example.com"},
                "rekorPublicKeyPath": env.path("rekor.pub"),
                "signedIdentity": {"type": "matchRepository"}
            }]
        }}
    });
    env.write("policy.json", &policy.to_string());
    env.write(
        "list.txt",
        &format!("{addr}/team/alice:1\n{addr}/team/bob:1\n{addr}/team/late:1\n"),
    );
    let dst = RegistryServer::plain();
    let run = env.mirror(
        &dst.addr,
        &["--policy", "policy.json", "-o", "mirror-failed.txt"],
    );
    assert_eq!(run.code, 1, "{}", run.output());
    let out = run.output();
    assert!(
        out.contains("the certificate names [\"bob@example.com\"]"),
        "{out}"
    );
    assert!(
        out.contains("not valid at the time the signature was logged"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("mirror-failed.txt")).unwrap(),
        format!("{addr}/team/bob:1\n{addr}/team/late:1\n")
    );
    let dp = Pusher::new(&dst);
    assert_eq!(dp.manifest("team/alice", "1").await.unwrap().digest, alice);
    assert!(dp.manifest("team/bob", "1").await.is_none());
    assert!(dp.manifest("team/late", "1").await.is_none());
    // The keyless signature crossed with the image, byte for byte.
    let sig = format!("sha256-{}.sig", alice.trim_start_matches("sha256:"));
    let sp = Pusher::new(&registry);
    assert_eq!(
        dp.manifest("team/alice", &sig).await.unwrap().digest,
        sp.manifest("team/alice", &sig).await.unwrap().digest
    );
}

/// A key-made signature with a Rekor bundle: checked against the Rekor key by default
/// (`--insecure-ignore-tlog=false`), a signature without a bundle then refused, and accepted
/// again with `--insecure-ignore-tlog`.
#[tokio::test(flavor = "multi_thread")]
async fn key_signatures_are_checked_against_rekor_when_a_key_is_given() {
    let registry = RegistryServer::plain();
    let pusher = Pusher::new(&registry);
    let env = Env::new();
    python(&env, &["trust", "."]);
    python(&env, &["key", "signer"]);
    let addr = &registry.addr;
    let mut digests = Vec::new();
    for (repo, seed, logged) in [("team/logged", 9510, true), ("team/plain", 9511, false)] {
        let image = images::single(seed, 3000);
        pusher.push_image(repo, Some("1"), &image).await;
        let digest = image.manifest.digest.clone();
        let payload = payload(&format!("{addr}/{repo}"), &digest);
        let file = format!("payload-{seed}.json");
        std::fs::write(env.path(&file), &payload).unwrap();
        let mut made: Value =
            serde_json::from_str(&python(&env, &["key-logged", ".", "signer.key", &file])).unwrap();
        if !logged {
            made.as_object_mut().unwrap().remove("bundle");
        }
        push_signature(&pusher, repo, &digest, &payload, &made).await;
        digests.push(digest);
    }
    env.write(
        "list.txt",
        &format!("{addr}/team/logged:1\n{addr}/team/plain:1\n"),
    );

    let (code, out, report) = validate(
        &env,
        "list.txt",
        &["-k", "signer.pub", "--rekor-key", "rekor.pub"],
    );
    assert_eq!(code, 1, "{out}");
    let got = verdicts(&report);
    assert_eq!(got[0], (digests[0].clone(), true, String::new()));
    assert!(!got[1].1 && got[1].2.contains("no Rekor bundle"), "{got:?}");

    let (code, out, report) = validate(
        &env,
        "list.txt",
        &[
            "-k",
            "signer.pub",
            "--trusted-root",
            "trusted_root.json",
            "--insecure-ignore-tlog",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(verdicts(&report).iter().all(|v| v.1));

    let (code, out, report) = validate(
        &env,
        "list.txt",
        &["-k", "signer.pub", "--rekor-key", "other-rekor.pub"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        verdicts(&report)[0]
            .2
            .contains("not signed by the given Rekor key")
    );

    // No Rekor key at all: the key alone is checked, and the output says so.
    let (code, out, _) = validate(&env, "list.txt", &["-k", "signer.pub"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not against the transparency log"), "{out}");
}
