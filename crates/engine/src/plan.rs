//! Turning list lines into (source, destination) pairs under the command's overrides.
//!
//! Default lines go to `-d` (Docker Hub when empty, as in Hangar) with the same repository
//! path. Mirror lines (`SRC DST TAG`) go where column 2 says: its registry when it names one
//! (Hangar ignores it, see docs/compat.md), otherwise `-d`.

use hangar_image::list::{self, Entry, Formats, Line};
use hangar_image::reference::{DOCKER_HUB, Reference, ReferenceError};

#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub source_registry: Option<String>,
    pub source_project: Option<String>,
    pub destination_registry: Option<String>,
    pub destination_project: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn with_project(r: Reference, project: Option<&str>) -> Result<Reference, ReferenceError> {
    match project {
        Some(p) => r.with_project(p),
        None => Ok(r),
    }
}

/// One list line resolved: where its image comes from and goes.
#[derive(Clone, Debug)]
pub struct Pair {
    /// The line as written (what the failed list gets back).
    pub text: String,
    pub source: Reference,
    pub destination: Reference,
}

impl Overrides {
    /// The lines of an image list as pairs. Lines that are not images, or that an override
    /// cannot apply to, are logged and left out (the rest of the list still runs).
    pub fn pairs(&self, text: &str, formats: Formats) -> Vec<Pair> {
        let parsed = list::parse(text, formats);
        for w in &parsed.warnings {
            tracing::warn!("Ignore {w}");
        }
        let mut pairs = Vec::with_capacity(parsed.entries.len());
        for entry in parsed.entries {
            match self.pair(&entry) {
                Ok((source, destination)) => pairs.push(Pair {
                    text: entry.text,
                    source,
                    destination,
                }),
                Err(e) => tracing::warn!(
                    "Ignore image list line {}: {:?}: {e}",
                    entry.line_no,
                    entry.text
                ),
            }
        }
        pairs
    }

    pub fn source(&self, r: &Reference) -> Result<Reference, ReferenceError> {
        let r = match nonempty(&self.source_registry) {
            Some(reg) => r.with_registry(reg),
            None => r.clone(),
        };
        with_project(r, nonempty(&self.source_project))
    }

    pub fn pair(&self, entry: &Entry) -> Result<(Reference, Reference), ReferenceError> {
        let default_destination = nonempty(&self.destination_registry).unwrap_or(DOCKER_HUB);
        match &entry.line {
            Line::Default(r) => {
                let destination = with_project(
                    r.with_registry(default_destination),
                    nonempty(&self.destination_project),
                )?;
                Ok((self.source(r)?, destination))
            }
            Line::Mirror {
                source,
                destination,
                destination_registry_explicit,
            } => {
                let destination = if *destination_registry_explicit {
                    destination.clone()
                } else {
                    destination.with_registry(default_destination)
                };
                let destination = with_project(destination, nonempty(&self.destination_project))?;
                Ok((self.source(source)?, destination))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_image::list::{Formats, parse};

    fn pairs(text: &str, o: &Overrides) -> Vec<(String, String)> {
        parse(text, Formats::DefaultAndMirror)
            .entries
            .iter()
            .map(|e| {
                let (s, d) = o.pair(e).unwrap();
                (s.to_string(), d.to_string())
            })
            .collect()
    }

    #[test]
    fn overrides_table() {
        let text = "nginx:1.25\nquay.io/coreos/etcd:v3\nsrc.io/a/b:1 dst.io:5000/c/d v2\nrancher/x copy/x v3\n";
        let d = Overrides {
            destination_registry: Some("reg:5000".into()),
            ..Default::default()
        };
        assert_eq!(
            pairs(text, &d),
            vec![
                (
                    "docker.io/library/nginx:1.25".into(),
                    "reg:5000/library/nginx:1.25".into()
                ),
                (
                    "quay.io/coreos/etcd:v3".into(),
                    "reg:5000/coreos/etcd:v3".into()
                ),
                ("src.io/a/b:v2".into(), "dst.io:5000/c/d:v2".into()),
                ("docker.io/rancher/x:v3".into(), "reg:5000/copy/x:v3".into()),
            ]
        );
        let all = Overrides {
            source_registry: Some("mirror.local".into()),
            source_project: Some("cache".into()),
            destination_registry: Some("reg:5000".into()),
            destination_project: Some("airgap".into()),
        };
        assert_eq!(
            pairs("nginx:1.25\n", &all),
            vec![(
                "mirror.local/cache/nginx:1.25".into(),
                "reg:5000/airgap/nginx:1.25".into()
            )]
        );
        // No -d: Docker Hub, as Hangar does.
        assert_eq!(
            pairs("quay.io/a/b:1\n", &Overrides::default())[0].1,
            "docker.io/a/b:1"
        );
    }
}
