//! `hangar view provenance|sbom`: BuildKit attestations in an index, and cosign's `.att` and
//! `.sbom` attachments of a single image.

use base64::Engine as _;
use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Blob, Format, Platform};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use serde_json::{Value, json};

fn manifest(config: &Blob, layers: &[Value]) -> Blob {
    Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config.descriptor(), "layers": layers,
        }))
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn provenance_and_sboms_are_found_where_builders_put_them() {
    let registry = RegistryServer::plain();
    let pusher = Pusher::new(&registry);
    let env = Env::new();
    let view = |what: &str, image: &str| {
        env.run(&[
            "view",
            what,
            image,
            "--override-os",
            "linux",
            "--override-arch",
            "arm64",
            "--tls-verify=false",
        ])
    };

    // BuildKit: the index's attestation manifest for the arm64 image, with a provenance
    // and an SPDX layer.
    let multi = images::MultiArch::build(9800, 2000);
    let subject = multi.arm64.manifest.digest.clone();
    let statement = |predicate_type: &str, predicate: Value| {
        json!({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": predicate_type,
               "subject": [{"name": "pkg:docker/app", "digest": {"sha256": subject.trim_start_matches("sha256:")}}],
               "predicate": predicate})
    };
    let provenance = Blob::new(
        "application/vnd.in-toto+json",
        serde_json::to_vec(&statement(
            "https://slsa.dev/provenance/v0.2",
            json!({"builder": {"id": "buildkit"}}),
        ))
        .unwrap(),
    );
    let sbom = Blob::new(
        "application/vnd.in-toto+json",
        serde_json::to_vec(&statement(
            "https://spdx.dev/Document",
            json!({"spdxVersion": "SPDX-2.3", "name": "app"}),
        ))
        .unwrap(),
    );
    let config = Blob::new(
        "application/vnd.oci.image.config.v1+json",
        r#"{"architecture":"unknown","os":"unknown"}"#,
    );
    for blob in [&provenance, &sbom, &config] {
        pusher.push_blob("team/app", blob).await;
    }
    let annotated = |b: &Blob, t: &str| {
        let mut d = b.descriptor();
        d["annotations"] = json!({"in-toto.io/predicate-type": t});
        d
    };
    let attestation = manifest(
        &config,
        &[
            annotated(&sbom, "https://spdx.dev/Document"),
            annotated(&provenance, "https://slsa.dev/provenance/v0.2"),
        ],
    );
    pusher
        .push_manifest("team/app", &attestation.digest, &attestation)
        .await;
    for child in multi.children() {
        pusher.push_image("team/app", None, child).await;
    }
    let mut index: Value = serde_json::from_slice(
        &images::index(Format::Oci, &[multi.amd64.clone(), multi.arm64.clone()]).data,
    )
    .unwrap();
    let mut entry = attestation.descriptor();
    entry["platform"] = json!({"architecture": "unknown", "os": "unknown"});
    entry["annotations"] = json!({"vnd.docker.reference.digest": subject, "vnd.docker.reference.type": "attestation-manifest"});
    index["manifests"].as_array_mut().unwrap().push(entry);
    pusher
        .push_manifest(
            "team/app",
            "1",
            &Blob::new(
                "application/vnd.oci.image.index.v1+json",
                serde_json::to_vec(&index).unwrap(),
            ),
        )
        .await;
    let image = format!("{}/team/app:1", registry.addr);
    let run = view("provenance", &image);
    assert_eq!(run.code, 0, "{}", run.output());
    let shown: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(shown["predicateType"], "https://slsa.dev/provenance/v0.2");
    assert_eq!(
        shown["subject"][0]["digest"]["sha256"],
        subject.trim_start_matches("sha256:")
    );
    let run = view("sbom", &image);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap()["predicate"]["spdxVersion"],
        "SPDX-2.3"
    );
    assert!(run.stdout.starts_with("{\n  "), "indented JSON");

    // cosign: a single image with an in-toto attestation (.att, DSSE) and an SBOM (.sbom).
    let single = images::image(
        Format::Oci,
        Platform::new("linux", "arm64", None),
        &[images::layer(Format::Oci, 9801, 1000)],
    );
    pusher.push_image("team/single", Some("2"), &single).await;
    let hex = single
        .manifest
        .digest
        .trim_start_matches("sha256:")
        .to_string();
    let slsa = json!({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://slsa.dev/provenance/v1", "subject": [], "predicate": {"buildDefinition": {"buildType": "test"}}});
    let envelope = Blob::new(
        "application/vnd.dsse.envelope.v1+json",
        serde_json::to_vec(&json!({"payloadType": "application/vnd.in-toto+json",
            "payload": base64::engine::general_purpose::STANDARD.encode(slsa.to_string()), "signatures": []}))
        .unwrap(),
    );
    let cdx = Blob::new(
        "application/vnd.cyclonedx+json",
        r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}"#,
    );
    let empty = Blob::new("application/vnd.oci.image.config.v1+json", "{}");
    for blob in [&envelope, &cdx, &empty] {
        pusher.push_blob("team/single", blob).await;
    }
    pusher
        .push_manifest(
            "team/single",
            &format!("sha256-{hex}.att"),
            &manifest(&empty, &[envelope.descriptor()]),
        )
        .await;
    pusher
        .push_manifest(
            "team/single",
            &format!("sha256-{hex}.sbom"),
            &manifest(&empty, &[cdx.descriptor()]),
        )
        .await;
    let single_ref = format!("{}/team/single:2", registry.addr);
    let run = view("provenance", &single_ref);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap()["predicate"]["buildDefinition"]["buildType"],
        "test"
    );
    let out = env.path("bom.json");
    let run = env.run(&[
        "view",
        "sbom",
        &single_ref,
        "-o",
        out.to_str().unwrap(),
        "--tls-verify=false",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(
        serde_json::from_slice::<Value>(&std::fs::read(&out).unwrap()).unwrap()["bomFormat"],
        "CycloneDX"
    );

    // cosign 2 with OCI 1.1 referrers: the attestation is typed as a DSSE envelope and
    // listed in the referrers tag schema's index; its statement says it is provenance.
    let referred = images::image(
        Format::Oci,
        Platform::new("linux", "arm64", None),
        &[images::layer(Format::Oci, 9803, 700)],
    );
    pusher
        .push_image("team/referred", Some("3"), &referred)
        .await;
    pusher.push_blob("team/referred", &envelope).await;
    pusher.push_blob("team/referred", &empty).await;
    let mut subject = referred.manifest.descriptor();
    subject.as_object_mut().unwrap().remove("platform");
    let attestation = Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.dsse.envelope.v1+json",
            "config": empty.descriptor(), "layers": [envelope.descriptor()], "subject": subject,
        }))
        .unwrap(),
    );
    pusher
        .push_manifest("team/referred", &attestation.digest, &attestation)
        .await;
    let mut listed = attestation.descriptor();
    listed["artifactType"] = json!("application/vnd.dsse.envelope.v1+json");
    let referrers_tag = format!(
        "sha256-{}",
        referred.manifest.digest.trim_start_matches("sha256:")
    );
    pusher
        .push_manifest(
            "team/referred",
            &referrers_tag,
            &Blob::new(
                "application/vnd.oci.image.index.v1+json",
                serde_json::to_vec(&json!({"schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [listed]}))
                .unwrap(),
            ),
        )
        .await;
    let referred_ref = format!("{}/team/referred:3", registry.addr);
    let run = view("provenance", &referred_ref);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap()["predicateType"],
        "https://slsa.dev/provenance/v1"
    );
    // The envelope is provenance, not an SBOM.
    view("sbom", &referred_ref).fails_with("no SBOM attached to sha256:");

    // Nothing attached: one clear line, exit 1.
    pusher
        .push_image("team/bare", Some("1"), &images::single(9802, 500))
        .await;
    let run = env.run(&[
        "view",
        "sbom",
        &format!("{}/team/bare:1", registry.addr),
        "--tls-verify=false",
    ]);
    run.fails_with("no SBOM attached to sha256:");
}
