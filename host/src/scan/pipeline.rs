//! One image's scan: each platform the filter keeps (the same walk as signing), its layers
//! read from the registry into a merged filesystem, handed to the scanner plugin, and, for
//! the SBOM formats, the scanner's report turned into a document by the SBOM plugin.

use super::report::Scanned;
use crate::copy::CopyError;
use crate::image::platform::{Platform, PlatformFilter};
use crate::image::reference::Reference;
use crate::plugin::catalog::{CatalogError, Found};
use crate::plugin::manifest::World;
use crate::plugin::runtime::{PluginError, Runtime};
use crate::plugin::sbom::{SbomGenerator, Subject};
use crate::plugin::scanner::{Platform as WitPlatform, Scanner};
use crate::plugin::settings::Settings;
use crate::registry::{Registries, RegistryError};
use crate::sign::targets::{Target, TargetError, targets};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{role} plugin {choice}")]
    NoPlugin {
        role: &'static str,
        choice: String,
        #[source]
        source: CatalogError,
    },
    #[error("{role} plugin {choice}: {name} implements {world}, not {wanted}")]
    WrongWorld {
        role: &'static str,
        choice: String,
        name: String,
        world: World,
        wanted: World,
    },
    #[error("sbom plugin {choice}: {name} {version} writes {formats}, not {format}")]
    NoFormat {
        choice: String,
        name: String,
        version: String,
        formats: String,
        format: String,
    },
    #[error("sbom plugin {name}: its {format} document is not JSON")]
    NotJson {
        name: String,
        format: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("--db {0}: not a directory")]
    NoDatabase(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Targets(#[from] TargetError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Copy(#[from] CopyError),
    #[error(transparent)]
    Layers(#[from] anyhow::Error),
}

/// The plugin `choice` names (a name or a file), which must implement `world`, and its bytes.
async fn plugin_of(
    settings: &Settings,
    runtime: &Arc<Runtime>,
    role: &'static str,
    choice: &str,
    world: World,
) -> Result<(Found, Vec<u8>), ScanError> {
    let found = settings
        .catalog
        .find(runtime, choice)
        .await
        .map_err(|source| ScanError::NoPlugin {
            role,
            choice: choice.to_string(),
            source,
        })?;
    if found.manifest.world != world {
        return Err(ScanError::WrongWorld {
            role,
            choice: choice.to_string(),
            name: found.manifest.name.clone(),
            world: found.manifest.world,
            wanted: world,
        });
    }
    let bytes = settings.catalog.bytes(&found)?;
    Ok((found, bytes))
}

/// The scanner the settings choose (`osv-scanner` unless told otherwise), loaded.
pub async fn scanner(
    settings: &Settings,
    runtime: &Arc<Runtime>,
) -> Result<(Scanner, Found), ScanError> {
    let choice = settings.scanner.as_deref().unwrap_or("osv-scanner");
    let (found, bytes) = plugin_of(settings, runtime, "scanner", choice, World::Scanner).await?;
    let scanner = Scanner::load(runtime.clone(), &found.manifest.name, &bytes).await?;
    Ok((scanner, found))
}

/// The SBOM plugin the settings choose (`sbom` unless told otherwise), which must write
/// `format`.
pub async fn sbom_generator(
    settings: &Settings,
    runtime: &Arc<Runtime>,
    format: &str,
) -> Result<(SbomGenerator, Found), ScanError> {
    let choice = settings.sbom.as_deref().unwrap_or("sbom");
    let (found, bytes) = plugin_of(settings, runtime, "sbom", choice, World::SbomGenerator).await?;
    let generator = SbomGenerator::load(runtime.clone(), &found.manifest.name, &bytes).await?;
    if !generator.formats().iter().any(|f| f == format) {
        return Err(ScanError::NoFormat {
            choice: choice.to_string(),
            name: generator.name().to_string(),
            version: generator.version().to_string(),
            formats: generator.formats().join(", "),
            format: format.to_string(),
        });
    }
    Ok((generator, found))
}

/// What a scanner is handed besides the image: its options and the paths it may read.
pub type Inputs = (Vec<(String, String)>, Vec<PathBuf>);

/// The scanner's options and readable paths for `--db` (none without one).
pub fn database(db: Option<&Path>) -> Result<Inputs, ScanError> {
    match db {
        Some(db) if !db.is_dir() => Err(ScanError::NoDatabase(db.display().to_string())),
        Some(db) => Ok((
            vec![("db".to_string(), db.display().to_string())],
            vec![db.to_path_buf()],
        )),
        None => Ok((Vec::new(), Vec::new())),
    }
}

/// What scanning an image needs, shared by every image of a run.
pub struct Pipeline<'a> {
    pub registries: &'a Registries,
    pub filter: &'a PlatformFilter,
    pub scanner: &'a Scanner,
    /// The SBOM plugin and the format it writes, for the SBOM report formats.
    pub sbom: Option<(&'a SbomGenerator, &'a str)>,
    pub options: &'a [(String, String)],
    pub paths: &'a [PathBuf],
    /// When the documents say they were made (RFC 3339, seconds).
    pub created: &'a str,
    /// `hangar-VERSION`, first of the tools an SBOM names.
    pub tool: &'a str,
}

impl Pipeline<'_> {
    /// Scans every platform of `reference` the filter keeps.
    pub async fn image(&self, reference: &Reference) -> Result<Vec<Scanned>, ScanError> {
        let registry = self.registries.get(reference.registry()).await?;
        let found = targets(&registry, reference, self.filter, false).await?;
        let mut scanned = Vec::new();
        for Target {
            digest, platform, ..
        } in found
        {
            let platform = match platform {
                Some(p) => p,
                None => {
                    let repo = reference.repository();
                    let manifest = registry.get_manifest(repo, digest.as_str()).await?;
                    crate::copy::walk::registry_config_platform(&registry, repo, &manifest)
                        .await?
                        .map(|c| c.platform())
                        .unwrap_or_default()
                }
            };
            scanned.push(self.platform(reference, &digest, platform).await?);
        }
        Ok(scanned)
    }

    async fn platform(
        &self,
        reference: &Reference,
        digest: &crate::image::digest::Digest,
        platform: Platform,
    ) -> Result<Scanned, ScanError> {
        let at = reference.at_digest(digest);
        let reading = std::time::Instant::now();
        let tree = crate::plugin::image_source::layer_tree(self.registries, &at, &platform).await?;
        let read_in = reading.elapsed();
        let wit = WitPlatform {
            os: platform.os.clone(),
            architecture: platform.architecture.clone(),
            variant: platform.variant.clone(),
        };
        let scanner = self.scanner;
        let report = scanner
            .scan(
                &reference.to_string(),
                &wit,
                Arc::new(tree),
                self.options,
                self.paths.to_vec(),
            )
            .await?;
        tracing::info!(
            "[{}@{digest}] ({platform}): {} packages, {} vulnerabilities (layers read in {:.0?}, scanned in {:.0?})",
            reference.name(),
            report.packages.len(),
            report.findings.len(),
            read_in,
            reading.elapsed() - read_in
        );
        let document = match self.sbom {
            Some((generator, format)) => {
                let subject = Subject {
                    image: reference.to_string(),
                    digest: digest.to_string(),
                    platform: wit.clone(),
                    tools: vec![
                        self.tool.to_string(),
                        format!("{}-{}", scanner.name(), scanner.version()),
                        format!("{}-{}", generator.name(), generator.version()),
                    ],
                };
                let text = generator
                    .generate(format, &subject, &report, self.created)
                    .await?;
                let document =
                    serde_json::from_str(&text).map_err(|source| ScanError::NotJson {
                        name: generator.name().to_string(),
                        format: format.to_string(),
                        source,
                    })?;
                Some(document)
            }
            None => None,
        };
        Ok(Scanned {
            reference: reference.to_string(),
            digest: digest.to_string(),
            platform,
            report,
            scanner: scanner.name().to_string(),
            document,
        })
    }
}

/// The findings whose severity is one of `severities` (compared in upper case): the
/// severities as compared, and how many findings matched.
pub fn gated(all: &[Scanned], severities: &[String]) -> (Vec<String>, usize) {
    let gate: Vec<String> = severities
        .iter()
        .map(|s| s.trim().to_ascii_uppercase())
        .collect();
    let count = all
        .iter()
        .flat_map(|s| s.report.findings.iter())
        .filter(|f| gate.contains(&f.severity))
        .count();
    (gate, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_must_be_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (options, paths) = database(Some(dir.path())).unwrap();
        assert_eq!(options[0].0, "db");
        assert_eq!(paths, vec![dir.path().to_path_buf()]);
        let file = dir.path().join("all.zip");
        std::fs::write(&file, b"").unwrap();
        let e = database(Some(&file)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("--db {}: not a directory", file.display())
        );
        assert_eq!(database(None).unwrap(), (Vec::new(), Vec::new()));
    }
}
