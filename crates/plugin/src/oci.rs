//! Plugins as OCI artifacts: pushed to and pulled from registries, stored in archives, so they
//! travel into an air gap with the images. The manifest's config is the plugin's manifest
//! (`application/vnd.hangar.plugin.config.v1+json`), its one layer the component
//! (`application/wasm`); [`artifact`] builds it.

use super::manifest::{Kind, Manifest, sha256_hex};
use bytes::Bytes;
use hangar_archive::artifact::Artifact;
use hangar_image::digest::Digest;
use hangar_image::manifest::ImageManifest;
use hangar_registry::Registry;
use std::collections::BTreeMap;

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.hangar.plugin.config.v1+json";
pub use hangar_archive::artifact::{
    NATIVE_PLUGIN_LAYER as NATIVE_LAYER, WASM_PLUGIN_LAYER as WASM_LAYER,
};
/// Plugins are small; anything larger is refused rather than held in memory.
pub const SIZE_LIMIT: usize = 64 << 20;

pub fn layer_media_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Wasm => WASM_LAYER,
        Kind::Native => NATIVE_LAYER,
    }
}

/// A hangar plugin: `docker.io/hangar-plugin/<name>:<version>`, its manifest as the config
/// (`application/vnd.hangar.plugin.config.v1+json`) and the component as an `application/wasm`
/// layer, so registries and archives carry plugins the way they carry images.
pub fn artifact(manifest: &Manifest) -> Artifact {
    let mut annotations = BTreeMap::from([
        (
            "org.opencontainers.image.title".to_string(),
            manifest.name.clone(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            manifest.version.clone(),
        ),
        (
            "org.opencontainers.image.description".to_string(),
            format!("hangar {} plugin ({})", manifest.world, manifest.contract),
        ),
    ]);
    // Who made the plugin is not known here (its manifest does not say): only hangar's own
    // plugins claim hangar as their vendor.
    if super::FIRST_PARTY_NAMES.contains(&manifest.name.as_str()) {
        annotations.insert(
            "org.opencontainers.image.vendor".to_string(),
            "hangar".to_string(),
        );
    }
    let layer: Digest = format!("sha256:{}", manifest.sha256)
        .parse()
        .expect("a manifest's sha256 is 64 hex digits");
    hangar_archive::artifact::build(
        format!("docker.io/hangar-plugin/{}", manifest.name),
        manifest.version.replace('+', "-"),
        CONFIG_MEDIA_TYPE,
        serde_json::to_value(manifest).expect("a manifest serializes"),
        layer_media_type(manifest.kind),
        layer,
        manifest.size,
        annotations,
    )
}

/// The small entries of an artifact by name (`share/sha256/<hex>`), as blobs to push.
fn blob_of<'a>(artifact: &'a Artifact, digest: &str) -> Option<&'a Bytes> {
    let name = format!("share/sha256/{}", digest.trim_start_matches("sha256:"));
    artifact
        .small_entries
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| b)
}

/// Pushes a plugin to `repo:tag`; returns the manifest digest.
pub async fn push(
    registry: &Registry,
    repo: &str,
    tag: &str,
    manifest: &Manifest,
    bytes: Bytes,
) -> anyhow::Result<Digest> {
    let artifact = artifact(manifest);
    let spec = &artifact.image.images[0];
    registry
        .push_blob_bytes(repo, &artifact.layer, bytes)
        .await?;
    let config: Digest = spec.config.parse()?;
    let config_bytes = blob_of(&artifact, config.as_str()).expect("built with its config");
    registry
        .push_blob_bytes(repo, &config, config_bytes.clone())
        .await?;
    let manifest_bytes = blob_of(&artifact, &spec.digest).expect("built with its manifest");
    Ok(registry
        .put_manifest(repo, tag, manifest_bytes, &spec.media_type)
        .await?)
}

/// Pulls a plugin artifact: its recorded manifest and its bytes (digest-checked by the
/// registry client, and the SHA-256 checked against the recorded manifest).
pub async fn pull(
    registry: &Registry,
    repo: &str,
    reference: &str,
) -> anyhow::Result<(Manifest, Vec<u8>)> {
    let what = format!("{}/{repo}:{reference}", registry.name());
    let manifest = registry.get_manifest(repo, reference).await?;
    let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)
        .map_err(|e| anyhow::anyhow!("{what} is not an OCI manifest: {e}"))?;
    if parsed.config.media_type != CONFIG_MEDIA_TYPE {
        anyhow::bail!(
            "{what} is not a hangar plugin (its config is {:?}, not {CONFIG_MEDIA_TYPE})",
            parsed.config.media_type
        );
    }
    let [layer] = parsed.layers.as_slice() else {
        anyhow::bail!("{what}: a hangar plugin has exactly one layer");
    };
    let config = registry
        .get_blob_bytes(repo, &parsed.config.digest, 1 << 20)
        .await?;
    let recorded: Manifest = serde_json::from_slice(&config)
        .map_err(|e| anyhow::anyhow!("{what}: the plugin manifest does not parse: {e}"))?;
    let bytes = registry
        .get_blob_bytes(repo, &layer.digest, SIZE_LIMIT)
        .await?
        .to_vec();
    check(&what, &recorded, &bytes)?;
    Ok((recorded, bytes))
}

/// The bytes are the ones the recorded manifest names.
pub fn check(what: &str, recorded: &Manifest, bytes: &[u8]) -> anyhow::Result<()> {
    let actual = sha256_hex(bytes);
    if actual != recorded.sha256 {
        anyhow::bail!(
            "{what}: the plugin file has sha256 {actual}, but its manifest says {}",
            recorded.sha256
        );
    }
    Ok(())
}
