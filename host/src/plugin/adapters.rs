//! Registry adapters around a push: before `load` or `mirror` pushes into a registry, the
//! adapter that recognises it (e.g. Harbor) prepares the destination (creates the projects the
//! repositories need). Failures are warnings, as in Hangar: the push goes on and says why it
//! fails if the destination is not ready.

use super::registry_adapter::RegistryAdapter;
use super::runtime::{Limits, Runtime};
use std::path::PathBuf;

/// Which adapter runs (`--registry-adapter`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Every first-party adapter is asked whether it recognises the registry.
    Auto,
    None,
    /// A first-party adapter by name.
    Named(String),
    /// A component file.
    File(PathBuf),
}

impl std::str::FromStr for Choice {
    type Err = String;
    fn from_str(s: &str) -> Result<Choice, String> {
        Ok(match s {
            "auto" | "" => Choice::Auto,
            "none" => Choice::None,
            path if path.ends_with(".wasm") => Choice::File(PathBuf::from(path)),
            name => {
                if super::embedded(name).is_none() {
                    return Err(format!(
                        "no registry adapter {name:?} in this binary (built in: {}); give a .wasm file instead",
                        super::EMBEDDED
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                Choice::Named(name.to_string())
            }
        })
    }
}

pub struct Options {
    pub choice: Choice,
    pub tls_verify: bool,
    /// Hosts the user allows plugins to reach besides the registry being prepared.
    pub allow_hosts: Vec<String>,
    pub limits: Limits,
}

/// Lets the adapter that recognises `registry` prepare it for `repositories`.
pub async fn prepare_destination(registry: &str, repositories: &[String], options: &Options) {
    let candidates: Vec<(String, Vec<u8>)> = match &options.choice {
        Choice::None => return,
        Choice::Auto => super::EMBEDDED
            .iter()
            .map(|(n, b)| (n.to_string(), b.to_vec()))
            .collect(),
        Choice::Named(name) => super::embedded(name)
            .map(|b| vec![(name.clone(), b.to_vec())])
            .unwrap_or_default(),
        Choice::File(path) => match std::fs::read(path) {
            Ok(bytes) => vec![(path.display().to_string(), bytes)],
            Err(e) => {
                tracing::warn!("Registry adapter {}: {e}", path.display());
                return;
            }
        },
    };
    if candidates.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let runtime = match Runtime::new(options.limits, Runtime::default_cache()) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("{e}");
            return;
        }
    };
    for (name, bytes) in candidates {
        let adapter = match RegistryAdapter::load(
            runtime.clone(),
            &name,
            &bytes,
            options.allow_hosts.clone(),
            options.tls_verify,
        )
        .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("{e}");
                continue;
            }
        };
        match adapter.detect(registry).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!("{e}");
                continue;
            }
        }
        tracing::info!(
            "{registry}: {} detected, preparing the destination",
            adapter.name()
        );
        match adapter.prepare_push(registry, repositories).await {
            Ok(notes) => {
                for note in notes {
                    tracing::info!("{note}");
                }
                tracing::info!(
                    "{registry}: prepared by {} in {:.0?}",
                    adapter.name(),
                    started.elapsed()
                );
            }
            Err(e) => {
                tracing::warn!("Failed to prepare {registry}: {e}");
                tracing::warn!("Please create the projects manually.");
            }
        }
        return;
    }
}
