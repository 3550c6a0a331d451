//! Registry adapters around a push: before `load` or `mirror` pushes into a registry, the
//! adapter that recognises it (e.g. Harbor) prepares the destination (creates the projects the
//! repositories need). Failures are warnings, as in Hangar: the push goes on and says why it
//! fails if the destination is not ready. Choosing an adapter that does not exist is an error.

use super::catalog::Found;
use super::manifest::{Kind, World};
use super::registry_adapter::RegistryAdapter;
use super::runtime::Runtime;
use super::settings::Settings;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// The adapters `settings` chose, loaded: `auto` is every registry adapter known (each asked
/// whether it recognises the registry), `none` is none, anything else one plugin by name or
/// file.
pub struct Adapters {
    adapters: Vec<RegistryAdapter>,
    /// The user named the adapter (not `auto`): its not recognising a registry is news.
    chosen: bool,
    options: Vec<(String, String)>,
    /// Which adapter recognised each registry.
    detected: Mutex<HashMap<String, usize>>,
    /// Registry answers behind failed pushes: (registry, status, body), each kept once.
    failures: Mutex<BTreeSet<(String, u16, String)>>,
}

impl Adapters {
    pub async fn load(settings: &Settings) -> anyhow::Result<Adapters> {
        let mut adapters = Vec::new();
        let choice = settings.registry_adapter.as_str();
        if choice != "none" {
            let runtime = Runtime::new(settings.limits, Runtime::default_cache())?;
            let chosen: Vec<Found> = if choice == "auto" || choice.is_empty() {
                settings
                    .catalog
                    .of_world(&runtime, World::RegistryAdapter)
                    .await
            } else {
                let found = settings
                    .catalog
                    .find(&runtime, choice)
                    .await
                    .map_err(|e| anyhow::anyhow!("--registry-adapter {choice}: {e}"))?;
                if found.manifest.world != World::RegistryAdapter {
                    anyhow::bail!(
                        "--registry-adapter {choice}: plugin {} is a {}, not a registry-adapter",
                        found.manifest.name,
                        found.manifest.world
                    );
                }
                vec![found]
            };
            for found in chosen {
                match load_one(&runtime, settings, &found).await {
                    Ok(adapter) => adapters.push(adapter),
                    // An adapter named explicitly must load; in auto mode a broken one is
                    // reported and the others still run.
                    Err(e) if choice == "auto" => tracing::warn!("{e:#}"),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Adapters {
            adapters,
            chosen: !(choice == "auto" || choice.is_empty() || choice == "none"),
            options: settings.adapter_options.clone(),
            detected: Mutex::default(),
            failures: Mutex::default(),
        })
    }

    /// Lets the adapter that recognises `registry` prepare it for `repositories`.
    pub async fn prepare_destination(&self, registry: &str, repositories: &[String]) {
        let started = std::time::Instant::now();
        for (index, adapter) in self.adapters.iter().enumerate() {
            match adapter.detect(registry).await {
                Ok(true) => {
                    self.detected
                        .lock()
                        .expect("detected lock")
                        .insert(registry.to_string(), index);
                }
                Ok(false) => {
                    // A vendor testing an adapter against a registry it should recognise
                    // needs to see that it did not; with `auto` (every adapter asked) that
                    // is the normal case.
                    if self.chosen {
                        tracing::info!(
                            "{registry}: adapter {} did not recognise it; nothing prepared",
                            adapter.name()
                        );
                    } else {
                        tracing::debug!("{registry}: not {}", adapter.name());
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!("{registry}: adapter {} could not tell: {e}", adapter.name());
                    continue;
                }
            }
            tracing::info!(
                "{registry}: {} detected, preparing the destination",
                adapter.name()
            );
            match adapter
                .prepare_push(registry, repositories, &self.options)
                .await
            {
                Ok(notes) => {
                    // Prefixed as the plugin's own log lines are.
                    for note in notes {
                        tracing::info!("[{}] {note}", adapter.name());
                    }
                    tracing::info!(
                        "{registry}: prepared by {} in {:.0?}",
                        adapter.name(),
                        started.elapsed()
                    );
                }
                Err(e) => {
                    tracing::warn!("Failed to prepare {registry}: {e}");
                    if adapter.name() == "harbor" {
                        // Hangar's words, which operators search for.
                        tracing::warn!("Please create the Harbor Project manually.");
                    } else {
                        tracing::warn!(
                            "Create what the push needs in {registry} by hand ({} could not), \
                             then run again.",
                            adapter.name()
                        );
                    }
                }
            }
            return;
        }
    }
}

async fn load_one(
    runtime: &Arc<Runtime>,
    settings: &Settings,
    found: &Found,
) -> anyhow::Result<RegistryAdapter> {
    if found.manifest.kind == Kind::Native {
        settings
            .catalog
            .check_native(&format!("plugin {}", found.manifest.name))?;
    }
    // Checked against the manifest's sha256 (and, for native plugins, loaded from exactly
    // these bytes).
    let bytes = settings.catalog.bytes(found)?;
    let (runtime, name, hosts) = (
        runtime.clone(),
        &found.manifest.name,
        settings.allow_hosts.clone(),
    );
    Ok(match found.manifest.kind {
        Kind::Wasm => {
            RegistryAdapter::load(runtime, name, &bytes, hosts, settings.tls_verify).await?
        }
        Kind::Native => {
            RegistryAdapter::load_native(runtime, name, &bytes, hosts, settings.tls_verify).await?
        }
    })
}

impl Adapters {
    /// Remembers a failed push's registry answer, for [`Adapters::explain_failures`].
    pub fn note_failure(&self, registry: &str, response: Option<(u16, &str)>) {
        if let Some((status, body)) = response
            && self
                .detected
                .lock()
                .expect("detected lock")
                .contains_key(registry)
        {
            self.failures.lock().expect("failures lock").insert((
                registry.to_string(),
                status,
                body.to_string(),
            ));
        }
    }

    /// Asks the adapter that recognised each registry to explain the answers behind failed
    /// pushes (Harbor's "authentication required" for a missing project...), once per answer.
    pub async fn explain_failures(&self) {
        let failures = std::mem::take(&mut *self.failures.lock().expect("failures lock"));
        let mut said = BTreeSet::new();
        for (registry, status, body) in failures {
            let Some(&index) = self.detected.lock().expect("detected lock").get(&registry) else {
                continue;
            };
            let adapter = &self.adapters[index];
            match adapter.classify_error(status, &body).await {
                Ok(Some(hint)) => {
                    if said.insert(hint.clone()) {
                        tracing::warn!("{registry}: {hint} (from the {} adapter)", adapter.name());
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!("{e}"),
            }
        }
    }
}
