//! Helm charts and plain files as OCI artifacts, built the way Hangar builds them (§3.7 of
//! the reference): an indented config (the chart's metadata, or `{"Name": ...}` for a file)
//! with the Helm config media type, one layer holding the raw bytes, and an indented OCI
//! manifest with `org.opencontainers.image.*` annotations.

use super::index::{Image, ImageSpec, rfc3339_now};
use bytes::Bytes;
use hangar_image::digest::Digest;
use hangar_image::media;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Read as _;

pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
pub const FILE_LAYER: &str = "application/vnd.content.hangar.file.layer.v1";
/// A hangar plugin stored in an archive: a WebAssembly component, or a native executable.
pub const WASM_PLUGIN_LAYER: &str = "application/wasm";
pub const NATIVE_PLUGIN_LAYER: &str = "application/vnd.hangar.plugin.native.v1";

/// An artifact ready to be written: its small entries (config, manifest, layout) and its index
/// entry; the layer itself is written by the caller (it may be large).
pub struct Artifact {
    pub image: Image,
    pub layer: Digest,
    pub layer_size: u64,
    pub small_entries: Vec<(String, Bytes)>,
}

#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ArtifactError {
    pub source_name: String,
    pub message: String,
}

/// Chart.yaml fields in the order Helm's `chart.Metadata` marshals them (omitempty).
const CHART_FIELDS: &[&str] = &[
    "name",
    "home",
    "sources",
    "version",
    "description",
    "keywords",
    "maintainers",
    "icon",
    "apiVersion",
    "condition",
    "tags",
    "appVersion",
    "deprecated",
    "annotations",
    "kubeVersion",
    "dependencies",
    "type",
];

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) => false,
    }
}

/// The chart's metadata, read from `<name>/Chart.yaml` inside the packaged chart.
pub fn chart_metadata(tgz: &[u8], source_name: &str) -> Result<Map<String, Value>, ArtifactError> {
    let fail = |message: String| ArtifactError {
        source_name: source_name.to_string(),
        message,
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let entries = archive
        .entries()
        .map_err(|e| fail(format!("not a chart archive (tar.gz): {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| fail(format!("not a chart archive (tar.gz): {e}")))?;
        let path = entry.path().map_err(|e| fail(e.to_string()))?.into_owned();
        let parts: Vec<_> = path.components().collect();
        if parts.len() == 2 && path.ends_with("Chart.yaml") {
            let mut text = String::new();
            entry
                .by_ref()
                .take(1 << 20)
                .read_to_string(&mut text)
                .map_err(|e| fail(format!("Chart.yaml: {e}")))?;
            let yaml: Value =
                serde_yaml::from_str(&text).map_err(|e| fail(format!("Chart.yaml: {e}")))?;
            let Value::Object(fields) = yaml else {
                return Err(fail("Chart.yaml is not a mapping".into()));
            };
            let mut ordered = Map::new();
            for key in CHART_FIELDS {
                if let Some(v) = fields.get(*key).filter(|v| !empty(v)) {
                    ordered.insert(key.to_string(), v.clone());
                }
            }
            for key in ["name", "version"] {
                if !ordered.get(key).is_some_and(Value::is_string) {
                    return Err(fail(format!("Chart.yaml has no {key}")));
                }
            }
            return Ok(ordered);
        }
    }
    Err(fail("no <chart>/Chart.yaml in the archive".into()))
}

/// Packages a chart directory (with `Chart.yaml`) as `<name>/...` in a tar.gz, as `helm
/// package` lays it out.
pub fn package_chart_dir(dir: &std::path::Path) -> Result<Vec<u8>, ArtifactError> {
    let fail = |message: String| ArtifactError {
        source_name: dir.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(dir.join("Chart.yaml"))
        .map_err(|e| fail(format!("Chart.yaml: {e}")))?;
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| fail(format!("Chart.yaml: {e}")))?;
    let name = yaml["name"]
        .as_str()
        .ok_or_else(|| fail("Chart.yaml has no name".into()))?
        .to_string();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    builder.follow_symlinks(false);
    builder
        .append_dir_all(&name, dir)
        .map_err(|e| fail(format!("packaging: {e}")))?;
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .map_err(|e| fail(format!("packaging: {e}")))
}

fn indented(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec_pretty(v).expect("JSON values serialise"))
}

/// The config, manifest and layout of an artifact whose one layer is `layer` (`size` bytes).
#[allow(clippy::too_many_arguments)]
pub fn build(
    source: String,
    tag: String,
    config_type: &str,
    config: Value,
    layer_type: &str,
    layer: Digest,
    layer_size: u64,
    annotations: BTreeMap<String, String>,
) -> Artifact {
    let config = indented(&config);
    let config_digest = Digest::sha256_of(&config);
    let manifest = indented(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": layer_type, "digest": layer, "size": layer_size}],
        "annotations": annotations,
    }));
    let manifest_digest = Digest::sha256_of(&manifest);
    let layout = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": media::OCI_MANIFEST, "digest": manifest_digest, "size": manifest.len()}],
    });
    let hex = manifest_digest.hex().to_string();
    Artifact {
        image: Image {
            source,
            tag,
            images: vec![ImageSpec {
                media_type: media::OCI_MANIFEST.into(),
                layers: vec![layer.to_string()],
                config: config_digest.to_string(),
                digest: manifest_digest.to_string(),
                ..Default::default()
            }],
            ..Default::default()
        },
        layer,
        layer_size,
        small_entries: vec![
            (format!("share/sha256/{}", config_digest.hex()), config),
            (format!("share/sha256/{hex}"), manifest),
            (format!("{hex}/index.json"), Bytes::from(layout.to_string())),
            (
                format!("{hex}/oci-layout"),
                Bytes::from_static(br#"{"imageLayoutVersion":"1.0.0"}"#),
            ),
        ],
    }
}

/// A packaged chart: `docker.io/hangar-helm/<name>:<version with + as ->`.
pub fn chart(tgz: &[u8], source_name: &str) -> Result<Artifact, ArtifactError> {
    let metadata = chart_metadata(tgz, source_name)?;
    let text = |k: &str| {
        metadata
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut annotations = BTreeMap::from([
        (
            "org.opencontainers.image.vendor".to_string(),
            "hangar".to_string(),
        ),
        (
            "org.opencontainers.image.created".to_string(),
            rfc3339_now(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            text("version"),
        ),
        ("org.opencontainers.image.title".to_string(), text("name")),
    ]);
    for (key, field) in [
        ("org.opencontainers.image.url", "home"),
        ("org.opencontainers.image.description", "description"),
    ] {
        if !text(field).is_empty() {
            annotations.insert(key.to_string(), text(field));
        }
    }
    Ok(build(
        format!("docker.io/hangar-helm/{}", text("name")),
        text("version").replace('+', "-"),
        HELM_CONFIG,
        Value::Object(metadata),
        HELM_CHART_LAYER,
        Digest::sha256_of(tgz),
        tgz.len() as u64,
        annotations,
    ))
}

/// A plain file: `docker.io/hangar-file/<basename>:latest`.
pub fn file(basename: &str, description: &str, layer: Digest, size: u64) -> Artifact {
    let annotations = BTreeMap::from([
        (
            "org.opencontainers.image.title".to_string(),
            basename.to_string(),
        ),
        (
            "org.opencontainers.image.description".to_string(),
            description.to_string(),
        ),
        (
            "org.opencontainers.image.vendor".to_string(),
            "Hangar".to_string(),
        ),
        (
            "org.opencontainers.image.created".to_string(),
            rfc3339_now(),
        ),
    ]);
    build(
        format!("docker.io/hangar-file/{basename}"),
        "latest".into(),
        HELM_CONFIG,
        json!({"Name": basename}),
        FILE_LAYER,
        layer,
        size,
        annotations,
    )
}
