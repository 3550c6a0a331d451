//! Image lists: a default-format list read with `--registry`/`--project` applied
//! (`read_default`), and lists made by list-generator plugins: the generator chosen and loaded
//! (`generator`), what it found sorted into Hangar's Linux and Windows lists with the sources
//! of each image (`Lists`), and the Rancher release's own lists and versions file (`rancher`).

pub mod rancher;

use crate::image::list::{self, Formats, Line};
use crate::image::reference::{Reference, ReferenceError};
use crate::plugin::catalog::{CatalogError, Found};
use crate::plugin::list_generator::ListGenerator;
use crate::plugin::manifest::{Kind, World};
use crate::plugin::runtime::{PluginError, Runtime};
use crate::plugin::settings::Settings;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ListsError {
    #[error("list generator {plugin}")]
    NoGenerator {
        plugin: String,
        #[source]
        source: CatalogError,
    },
    #[error("list generator {plugin}: {name} implements {world}, not list-generator")]
    WrongWorld {
        plugin: String,
        name: String,
        world: World,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// What the user gave does not say what to list.
    #[error("{0}")]
    Usage(String),
    #[error("cannot read image list {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--project {project}")]
    Project {
        project: String,
        #[source]
        source: ReferenceError,
    },
}

/// One image of a default-format list: its line as written, and the reference to use.
pub struct Listed {
    pub text: String,
    pub reference: Reference,
}

/// The images of the default-format list `file`, moved to `registry` and `project` when
/// given (empty: not given); lines that do not parse are left out with a warning.
pub fn read_default(
    file: Option<&Path>,
    registry: Option<&str>,
    project: Option<&str>,
) -> Result<Vec<Listed>, ListsError> {
    let path = file.ok_or_else(|| {
        ListsError::Usage(
            "image list not provided, use '--file' to specify the image list file".into(),
        )
    })?;
    let text = std::fs::read_to_string(path).map_err(|source| ListsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let parsed = list::parse(&text, Formats::DefaultOnly);
    for w in &parsed.warnings {
        tracing::warn!("Ignore {w}");
    }
    let mut listed = Vec::new();
    for entry in parsed.entries {
        let Line::Default(mut reference) = entry.line else {
            continue;
        };
        if let Some(registry) = registry.filter(|r| !r.is_empty()) {
            reference = reference.with_registry(registry);
        }
        if let Some(project) = project.filter(|p| !p.is_empty()) {
            reference = reference
                .with_project(project)
                .map_err(|source| ListsError::Project {
                    project: project.to_string(),
                    source,
                })?;
        }
        listed.push(Listed {
            text: entry.text,
            reference,
        });
    }
    Ok(listed)
}

/// An image a generator found: (reference, os, source).
pub type Entry = (String, Option<String>, String);

pub fn is_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

/// The list generator `plugin` names (a name or a file), loaded; native ones only when
/// allowed.
pub async fn generator(
    settings: &Settings,
    runtime: Arc<Runtime>,
    plugin: &str,
) -> Result<(ListGenerator, Found), ListsError> {
    let found = settings
        .catalog
        .find(&runtime, plugin)
        .await
        .map_err(|source| ListsError::NoGenerator {
            plugin: plugin.to_string(),
            source,
        })?;
    if found.manifest.world != World::ListGenerator {
        return Err(ListsError::WrongWorld {
            plugin: plugin.to_string(),
            name: found.manifest.name.clone(),
            world: found.manifest.world,
        });
    }
    let bytes = settings.catalog.bytes(&found)?;
    let generator = if found.manifest.kind == Kind::Native {
        settings
            .catalog
            .check_native(&format!("plugin {}", found.manifest.name))?;
        ListGenerator::load_native(runtime, &found.manifest.name, &bytes).await?
    } else {
        ListGenerator::load(runtime, &found.manifest.name, &bytes).await?
    };
    Ok((generator, found))
}

/// Sorted, de-duplicated image lists and where each image came from.
#[derive(Debug, Default)]
pub struct Lists {
    pub linux: BTreeSet<String>,
    pub windows: BTreeSet<String>,
    pub sources: BTreeMap<String, BTreeSet<String>>,
}

impl Lists {
    /// From (reference, os, source) entries: `os` containing `windows` puts an image in the
    /// Windows list, containing `linux` (or no `os`) in the Linux list. A reference that does
    /// not parse is left out with a warning; `registry` moves every image there.
    pub fn of(
        entries: impl IntoIterator<Item = (String, Option<String>, String)>,
        registry: Option<&str>,
    ) -> Lists {
        let mut lists = Lists::default();
        for (reference, os, source) in entries {
            let image = match registry.filter(|r| !r.is_empty()) {
                None => match Reference::parse(&reference) {
                    Ok(_) => reference.trim().to_string(),
                    Err(e) => {
                        tracing::warn!("Ignore {reference:?} from {source}: {e}");
                        continue;
                    }
                },
                Some(registry) => match Reference::parse(&reference) {
                    Ok(r) => r.with_registry(registry).to_string(),
                    Err(e) => {
                        tracing::warn!("Ignore {reference:?} from {source}: {e}");
                        continue;
                    }
                },
            };
            let os = os.unwrap_or_default().to_ascii_lowercase();
            if os.contains("windows") {
                lists.windows.insert(image.clone());
            }
            // No `os`, or one that names Linux (or neither system): the Linux list.
            if os.contains("linux") || !os.contains("windows") {
                lists.linux.insert(image.clone());
            }
            lists.sources.entry(image).or_default().insert(source);
        }
        lists
    }
}

impl Lists {
    /// `image source1,source2` lines (`--output-source`).
    pub fn source_lines(&self) -> impl Iterator<Item = String> + '_ {
        self.sources.iter().map(|(image, sources)| {
            format!(
                "{image} {}",
                sources.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
    }

    /// How many distinct sources the images came from.
    pub fn source_count(&self) -> usize {
        self.sources
            .values()
            .flatten()
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// A list file's text: one line per item, each with its newline.
pub fn text(lines: impl Iterator<Item = impl AsRef<str>>) -> String {
    let mut body = String::new();
    for line in lines {
        body.push_str(line.as_ref());
        body.push('\n');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_route_by_os_dedupe_and_move_registries() {
        let entries = [
            ("rancher/app:v1", None, "app:1.0.0"),
            ("rancher/app:v1", None, "other:2.0.0"),
            ("rancher/win:v1", Some("windows"), "app:1.0.0"),
            ("rancher/both:v1", Some("linux,windows"), "app:1.0.0"),
            ("quay.io/org/x@sha256:0123456789012345678901234567890123456789012345678901234567890123", None, "x:1"),
            ("Not An Image", None, "bad:1"),
        ]
        .map(|(r, os, s)| (r.to_string(), os.map(str::to_string), s.to_string()));
        let lists = Lists::of(entries.clone(), None);
        assert_eq!(
            lists.linux.iter().collect::<Vec<_>>(),
            [
                "quay.io/org/x@sha256:0123456789012345678901234567890123456789012345678901234567890123",
                "rancher/app:v1",
                "rancher/both:v1",
            ]
        );
        assert_eq!(
            lists.windows.iter().collect::<Vec<_>>(),
            ["rancher/both:v1", "rancher/win:v1"]
        );
        assert_eq!(
            lists.sources["rancher/app:v1"].iter().collect::<Vec<_>>(),
            ["app:1.0.0", "other:2.0.0"]
        );
        let moved = Lists::of(entries, Some("registry.local:5000"));
        assert!(
            moved.linux.contains("registry.local:5000/rancher/app:v1"),
            "{:?}",
            moved.linux
        );
        assert!(moved.linux.contains("registry.local:5000/org/x@sha256:0123456789012345678901234567890123456789012345678901234567890123"));
    }

    #[test]
    fn default_lists_take_registry_and_project_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("list.txt");
        std::fs::write(
            &file,
            "# comment\nlibrary/nginx:1.25\n\nquay.io/org/app:v1\n",
        )
        .unwrap();
        let listed = read_default(Some(&file), Some("registry.local"), Some("mirror")).unwrap();
        let shown: Vec<String> = listed.iter().map(|l| l.reference.to_string()).collect();
        assert_eq!(
            shown,
            [
                "registry.local/mirror/nginx:1.25",
                "registry.local/mirror/app:v1"
            ]
        );
        assert_eq!(listed[1].text, "quay.io/org/app:v1");
        assert!(read_default(None, None, None).is_err());
    }
}
