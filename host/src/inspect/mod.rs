//! What listed images are, read from their registries: each image's platforms with their
//! digests and media types, shaped as Hangar's archive index entries (`inspect list`), and
//! the report in Hangar's txt table, its index structure as JSON or YAML (without layers), or
//! CSV with a row per platform manifest. `attached` finds the provenance or SBOM attached to
//! an image (`view`).

pub mod attached;

use crate::archive::index::{ArchiveIndex, INDEX_VERSION, Image, ImageSpec, rfc3339_now};
use crate::image::manifest::{ImageManifest, Index};
use crate::image::media::ManifestKind;
use crate::image::platform::Platform;
use crate::image::reference::Reference;
use crate::outfile::csv_field;
use crate::registry::{Registries, RegistryError};

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("unsupported MIME type {0:?}")]
    Unsupported(String),
    #[error("malformed index")]
    MalformedIndex(#[source] serde_json::Error),
    #[error("malformed manifest")]
    MalformedManifest(#[source] serde_json::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Yaml(#[from] serde_yaml::Error),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Txt,
    Json,
    Yaml,
    Csv,
}

impl Format {
    pub fn parse(text: &str) -> Format {
        match text.trim().to_ascii_lowercase().as_str() {
            "json" => Format::Json,
            "yaml" | "yml" => Format::Yaml,
            "csv" => Format::Csv,
            "txt" | "" => Format::Txt,
            other => {
                tracing::warn!("Unknown report format {other:?}, writing txt");
                Format::Txt
            }
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Txt => "txt",
            Format::Json => "json",
            Format::Yaml => "yaml",
            Format::Csv => "csv",
        }
    }
}

/// One listed image as inspected: how it was listed and what it is.
pub struct Inspected {
    pub shown: String,
    pub image: Image,
}

/// The image's platforms: an index's entries as listed (attestations left out), or a single
/// manifest's platform from its config.
pub async fn inspect(
    registries: &Registries,
    reference: &Reference,
) -> Result<Image, InspectError> {
    let registry = registries.get(reference.registry()).await?;
    let repo = reference.repository();
    let top = registry
        .get_manifest(repo, &reference.manifest_reference())
        .await?;
    let kind = ManifestKind::from_media_type(&top.media_type)
        .ok_or_else(|| InspectError::Unsupported(top.media_type.clone()))?;
    let mut images = Vec::new();
    if kind.is_index() {
        let index: Index =
            serde_json::from_slice(&top.bytes).map_err(InspectError::MalformedIndex)?;
        for entry in index.manifests.iter().filter(|d| !d.is_attestation()) {
            let platform = entry.platform.clone().unwrap_or_default();
            images.push(spec(
                &platform,
                &entry.media_type,
                &entry.digest.to_string(),
                "",
            ));
        }
    } else if kind == ManifestKind::Schema1 {
        let manifest: serde_json::Value =
            serde_json::from_slice(&top.bytes).map_err(InspectError::MalformedManifest)?;
        let arch = manifest["architecture"].as_str().unwrap_or_default();
        let platform = Platform::new("linux", arch, None);
        images.push(spec(
            &platform,
            &top.media_type,
            &top.digest.to_string(),
            "",
        ));
    } else {
        let manifest: ImageManifest =
            serde_json::from_slice(&top.bytes).map_err(InspectError::MalformedManifest)?;
        let config = registry
            .get_blob_bytes(repo, &manifest.config.digest, 16 << 20)
            .await?;
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap_or_default();
        let text = |key: &str| config[key].as_str().map(str::to_string);
        let platform = Platform {
            os: text("os").unwrap_or_default(),
            architecture: text("architecture").unwrap_or_default(),
            variant: text("variant"),
            os_version: text("os.version"),
            os_features: config["os.features"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            ..Default::default()
        };
        images.push(spec(
            &platform,
            &top.media_type,
            &top.digest.to_string(),
            &manifest.config.digest.to_string(),
        ));
    }
    let mut image = Image {
        source: reference.name(),
        tag: reference
            .tag()
            .map(str::to_string)
            .unwrap_or_else(|| reference.manifest_reference()),
        images,
        ..Image::default()
    };
    for spec in &image.images {
        for (list, value) in [
            (&mut image.arch_list, &spec.arch),
            (&mut image.os_list, &spec.os),
        ] {
            if !value.is_empty() && !list.contains(value) {
                list.push(value.clone());
            }
        }
    }
    Ok(image)
}

fn spec(platform: &Platform, media_type: &str, digest: &str, config: &str) -> ImageSpec {
    ImageSpec {
        arch: platform.architecture.clone(),
        os: platform.os.clone(),
        os_version: platform.os_version.clone().unwrap_or_default(),
        os_features: platform.os_features.clone(),
        variant: platform.variant.clone().unwrap_or_default(),
        media_type: media_type.to_string(),
        config: config.to_string(),
        digest: digest.to_string(),
        ..ImageSpec::default()
    }
}

pub fn platform_text(spec: &ImageSpec) -> String {
    spec.platform().to_string()
}

/// The report of `inspected`, in list order.
pub fn render(format: Format, inspected: &[Inspected]) -> Result<Vec<u8>, InspectError> {
    let index = || ArchiveIndex {
        list: inspected.iter().map(|i| i.image.clone()).collect(),
        version: INDEX_VERSION.to_string(),
        time: rfc3339_now(),
        updated: String::new(),
        delta: None,
    };
    Ok(match format {
        Format::Txt => {
            let mut out = String::new();
            for (n, item) in inspected.iter().enumerate() {
                let platforms: Vec<String> = item.image.images.iter().map(platform_text).collect();
                out.push_str(&format!(
                    "{:4} | {} | {}\n",
                    n + 1,
                    item.shown,
                    platforms.join(",")
                ));
            }
            out.into_bytes()
        }
        Format::Json => {
            let mut bytes = serde_json::to_vec_pretty(&index())?;
            bytes.push(b'\n');
            bytes
        }
        Format::Yaml => serde_yaml::to_string(&index())?.into_bytes(),
        Format::Csv => {
            let mut out = String::from("image,digest,platform,osVersion,osFeature,mediaType\n");
            for item in inspected {
                for spec in &item.image.images {
                    let fields = [
                        item.shown.clone(),
                        spec.digest.clone(),
                        platform_text(spec),
                        spec.os_version.clone(),
                        spec.os_features.join(","),
                        spec.media_type.clone(),
                    ];
                    let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                    out.push_str(&row.join(","));
                    out.push('\n');
                }
            }
            out.into_bytes()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspected() -> Vec<Inspected> {
        let platform = Platform {
            os_features: vec!["a".into(), "b".into()],
            ..Platform::new("windows", "amd64", None)
        };
        let mut image = Image {
            source: "docker.io/library/app".into(),
            tag: "1".into(),
            ..Image::default()
        };
        image.images.push(spec(&platform, "m", "sha256:1", ""));
        vec![Inspected {
            shown: "docker.io/library/app:1".into(),
            image,
        }]
    }

    #[test]
    fn txt_and_csv_rows() {
        let txt = String::from_utf8(render(Format::Txt, &inspected()).unwrap()).unwrap();
        assert_eq!(txt, "   1 | docker.io/library/app:1 | windows/amd64\n");
        let csv = String::from_utf8(render(Format::Csv, &inspected()).unwrap()).unwrap();
        assert_eq!(
            csv.lines().nth(1).unwrap(),
            "docker.io/library/app:1,sha256:1,windows/amd64,,\"a,b\",m"
        );
    }

    #[test]
    fn unknown_formats_are_txt() {
        assert_eq!(Format::parse(" YML "), Format::Yaml);
        assert_eq!(Format::parse("html"), Format::Txt);
        assert_eq!(Format::Csv.extension(), "csv");
    }
}
