//! Installing, describing and shipping plugins: what `hangar plugin install|inspect|push` do.
//! Every install describes the plugin first, so one built for another contract is refused
//! before it is written; bytes that arrive with a recorded manifest (a registry, an archive)
//! must also describe themselves as the record says, so a relabelled artifact is refused.

use super::catalog::{Catalog, CatalogError, Found};
use super::manifest::Manifest;
use super::runtime::Runtime;
use bytes::Bytes;
use hangar_archive::blobs::ArchiveBlobs;
use hangar_archive::reader::{ArchiveReader, ReadError};
use hangar_image::digest::Digest;
use hangar_image::reference::{Reference, ReferenceError};
use hangar_registry::{Registries, Registry, RegistryError, RegistryOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Artifact(#[from] anyhow::Error),
    #[error(transparent)]
    Archive(#[from] ReadError),
    #[error("archive {path}")]
    ArchiveIndex {
        path: PathBuf,
        #[source]
        source: ReadError,
    },
    #[error("{source_name}")]
    Read {
        source_name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the manifest of plugin {plugin}")]
    Recorded {
        path: PathBuf,
        plugin: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Malformed(&'static str),
    #[error("{path}: stores no plugin named {name}")]
    NoneNamed { path: PathBuf, name: String },
    #[error("{0}: stores no plugins")]
    NoPlugins(PathBuf),
    #[error(
        "{origin}: the artifact says it is {recorded} ({recorded_world}), but the plugin describes itself as {described} ({described_world})"
    )]
    Relabelled {
        origin: String,
        recorded: String,
        recorded_world: String,
        described: String,
        described_world: String,
    },
}

/// A plugin's manifest as `plugin inspect` and `plugin ls --json` show it: with its source.
pub fn inspect_json(found: &Found) -> serde_json::Value {
    let mut value = serde_json::to_value(&found.manifest).expect("a manifest serializes");
    value["source"] = serde_json::Value::String(found.origin.to_string());
    value
}

/// The heading of `plugin ls`'s table.
pub const TABLE_HEADER: &str = "NAME             VERSION    WORLD             KIND    SOURCE";

/// A plugin's row in `plugin ls`'s table.
pub fn table_row(found: &Found) -> String {
    let m = &found.manifest;
    format!(
        "{:<16} {:<10} {:<17} {:<7} {}",
        m.name,
        m.version,
        m.world.to_string(),
        format!("{:?}", m.kind).to_lowercase(),
        found.origin
    )
}

/// Where `install` takes plugins from: a plugin file, an archive (`.zip`, every plugin it
/// stores or the one named), or `oci://REGISTRY/REPO:TAG`.
pub struct Install<'a> {
    pub source: &'a str,
    pub name: Option<&'a str>,
    /// Replace an installed plugin of the same name.
    pub force: bool,
    pub tls_verify: bool,
}

/// Installs what `from` names; returns the manifests written, in order.
pub async fn install(
    catalog: &Catalog,
    runtime: &Arc<Runtime>,
    from: &Install<'_>,
) -> Result<Vec<Manifest>, ManageError> {
    if let Some(reference) = from.source.strip_prefix("oci://") {
        let reference = Reference::parse(reference)?;
        let registry = registry(&reference, from.tls_verify).await?;
        let wanted = reference.manifest_reference();
        let (recorded, bytes) =
            super::oci::pull(&registry, reference.repository(), &wanted).await?;
        let m = install_checked(catalog, runtime, &recorded, &bytes, from).await?;
        return Ok(vec![m]);
    }
    // An archive, whole or split (`NAME.zip`, `NAME.zip.000`, or the name of its parts).
    let archive = hangar_archive::volume::archive_path(Path::new(from.source));
    let is_archive =
        archive.to_string_lossy().ends_with(".zip") && hangar_archive::volume::exists(&archive);
    if from.source.ends_with(".zip") || is_archive {
        let mut installed = Vec::new();
        for (recorded, bytes) in plugins_in_archive(Path::new(from.source), from.name)? {
            installed.push(install_checked(catalog, runtime, &recorded, &bytes, from).await?);
        }
        return Ok(installed);
    }
    let bytes = std::fs::read(from.source).map_err(|source| ManageError::Read {
        source_name: from.source.to_string(),
        source,
    })?;
    Ok(vec![
        catalog
            .install(runtime, &bytes, from.source, from.force)
            .await?,
    ])
}

async fn registry(reference: &Reference, tls_verify: bool) -> Result<Arc<Registry>, ManageError> {
    let registries = Registries::new(RegistryOptions {
        tls_verify: Some(tls_verify),
        ..RegistryOptions::default()
    });
    Ok(registries.get(reference.registry()).await?)
}

async fn install_checked(
    catalog: &Catalog,
    runtime: &Arc<Runtime>,
    recorded: &Manifest,
    bytes: &[u8],
    from: &Install<'_>,
) -> Result<Manifest, ManageError> {
    super::oci::check(from.source, recorded, bytes)?;
    let described = catalog.describe(runtime, &recorded.name, bytes).await?;
    if described.name != recorded.name || described.world != recorded.world {
        return Err(ManageError::Relabelled {
            origin: from.source.to_string(),
            recorded: recorded.name.clone(),
            recorded_world: recorded.world.to_string(),
            described: described.name.clone(),
            described_world: described.world.to_string(),
        });
    }
    catalog.write(&described, bytes, from.force)?;
    Ok(described)
}

/// The plugins an archive stores (`hangar-plugin/<name>` entries), with their bytes.
pub fn plugins_in_archive(
    path: &Path,
    name: Option<&str>,
) -> Result<Vec<(Manifest, Vec<u8>)>, ManageError> {
    let mut reader = ArchiveReader::open(path)?;
    let index = reader.index().map_err(|source| ManageError::ArchiveIndex {
        path: path.to_path_buf(),
        source,
    })?;
    let blobs = ArchiveBlobs::new(path, &mut reader)?;
    let mut found = Vec::new();
    for image in &index.list {
        let Some(plugin) = image.source.strip_prefix("docker.io/hangar-plugin/") else {
            continue;
        };
        if name.is_some_and(|n| n != plugin) {
            continue;
        }
        let spec = image
            .images
            .first()
            .ok_or(ManageError::Malformed("an artifact with no manifest"))?;
        let blob = |digest: &str| format!("share/sha256/{}", digest.trim_start_matches("sha256:"));
        let config = blobs.read_small(&blob(&spec.config), 1 << 20)?;
        let recorded: Manifest =
            serde_json::from_slice(&config).map_err(|source| ManageError::Recorded {
                path: path.to_path_buf(),
                plugin: plugin.to_string(),
                source,
            })?;
        let layer = spec
            .layers
            .first()
            .ok_or(ManageError::Malformed("a plugin artifact with no layer"))?;
        let bytes = blobs.read_small(&blob(layer), super::oci::SIZE_LIMIT as u64)?;
        found.push((recorded, bytes.to_vec()));
    }
    if found.is_empty() {
        return Err(match name {
            Some(n) => ManageError::NoneNamed {
                path: path.to_path_buf(),
                name: n.to_string(),
            },
            None => ManageError::NoPlugins(path.to_path_buf()),
        });
    }
    Ok(found)
}

/// What `push` put where.
pub struct Pushed {
    pub found: Found,
    pub reference: Reference,
    pub tag: String,
    pub digest: Digest,
}

/// Pushes the plugin `plugin` names to `reference` as an OCI artifact; the tag defaults to
/// the plugin's version (`+` is not allowed in a tag).
pub async fn push(
    catalog: &Catalog,
    runtime: &Arc<Runtime>,
    plugin: &str,
    reference: &str,
    tls_verify: bool,
) -> Result<Pushed, ManageError> {
    let found = catalog.find(runtime, plugin).await?;
    let bytes = catalog.bytes(&found)?;
    let reference = Reference::parse(reference)?;
    let tag = reference
        .tag()
        .map(str::to_string)
        .unwrap_or_else(|| found.manifest.version.replace('+', "-"));
    let registry = registry(&reference, tls_verify).await?;
    let digest = super::oci::push(
        &registry,
        reference.repository(),
        &tag,
        &found.manifest,
        Bytes::from(bytes),
    )
    .await?;
    Ok(Pushed {
        found,
        reference,
        tag,
        digest,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_header_lines_up_with_its_rows() {
        let header = format!(
            "{:<16} {:<10} {:<17} {:<7} SOURCE",
            "NAME", "VERSION", "WORLD", "KIND"
        );
        assert_eq!(header, super::TABLE_HEADER);
    }
}
