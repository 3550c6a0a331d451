//! `plugin test`: one call of one plugin function without a registry (HTTP answered from
//! recorded fixtures, a root filesystem directory for scanners), its result and every request
//! the plugin made, so authors can check a plugin the way hangar will call it.

use super::catalog::{Catalog, CatalogError};
use super::fixtures::{Exchange, Fixtures, RequestLog};
use super::image_fs::{DirTree, Tree};
use super::manifest::{Kind, World};
use super::runtime::{PluginError, Runtime};
use super::sandbox::Transport;
use super::scanner::Platform;
use hangar_image::reference::{Reference, ReferenceError};
use hangar_registry::{Registries, RegistryOptions};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Image(#[from] anyhow::Error),
    /// The function or its arguments do not fit the plugin.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    BadArgument(String, #[source] std::num::ParseIntError),
    #[error("{path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Fixtures(String),
    #[error("{path}: not JSON")]
    NotJson {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// One call: the function, its arguments and what the plugin may reach.
pub struct Call {
    pub function: String,
    pub args: Vec<String>,
    pub http_fixtures: Option<PathBuf>,
    pub options: Vec<(String, String)>,
    pub paths: Vec<PathBuf>,
    pub rootfs: Option<PathBuf>,
    pub image: Option<String>,
    pub tls_verify: bool,
    /// OS/ARCH[/VARIANT], handed to a scanner or an SBOM generator.
    pub platform: String,
    pub allow_host: Vec<String>,
    /// The `tools` an SBOM names for hangar itself (`hangar-VERSION`).
    pub tool: String,
}

/// What the call returned (or how the plugin failed) and the requests it made.
pub struct Outcome {
    pub plugin: String,
    pub result: Result<Value, PluginError>,
    pub requests: Vec<Exchange>,
}

impl Outcome {
    pub fn to_json(&self, function: &str) -> Value {
        match &self.result {
            Ok(value) => {
                json!({"plugin": self.plugin, "function": function, "result": value, "requests": self.requests})
            }
            Err(e) => {
                json!({"plugin": self.plugin, "function": function, "error": e.to_string(), "requests": self.requests})
            }
        }
    }
}

/// Runs `call` on the plugin `plugin` names.
pub async fn run(
    catalog: &Catalog,
    runtime: &Arc<Runtime>,
    plugin: &str,
    call: &Call,
) -> Result<Outcome, TrialError> {
    let found = catalog.find(runtime, plugin).await?;
    if found.manifest.kind == Kind::Native {
        catalog.check_native(&format!("plugin {}", found.manifest.name))?;
    }
    let bytes = catalog.bytes(&found)?;
    let fixtures = match &call.http_fixtures {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| TrialError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let mut parsed = Fixtures::parse(&text)
                .map_err(|e| TrialError::Fixtures(format!("{}: {e}", path.display())))?;
            parsed.plain_credentials = !call.tls_verify;
            Some(Arc::new(parsed))
        }
        None => None,
    };
    let name = found.manifest.name.clone();
    let native = found.manifest.kind == Kind::Native;
    let (result, recorded) = match found.manifest.world {
        World::RegistryAdapter => adapter(runtime, &name, &bytes, native, fixtures, call).await?,
        World::ListGenerator => generator(runtime, &name, &bytes, native, fixtures, call).await?,
        World::Scanner => (scan(runtime, &name, &bytes, call).await?, None),
        World::SbomGenerator => (sbom(runtime, &name, &bytes, call).await?, None),
    };
    Ok(Outcome {
        plugin: name,
        result,
        requests: recorded.map(|log| log.exchanges()).unwrap_or_default(),
    })
}

type Called = (Result<Value, PluginError>, Option<Arc<RequestLog>>);

fn arg(call: &Call, i: usize, what: &str) -> Result<String, TrialError> {
    call.args
        .get(i)
        .cloned()
        .ok_or_else(|| TrialError::Usage(format!("{} needs {what}", call.function)))
}

async fn adapter(
    runtime: &Arc<Runtime>,
    name: &str,
    bytes: &[u8],
    native: bool,
    fixtures: Option<Arc<Fixtures>>,
    call: &Call,
) -> Result<Called, TrialError> {
    use super::registry_adapter::RegistryAdapter;
    let (hosts, tls) = (call.allow_host.clone(), call.tls_verify);
    let mut adapter = if native {
        RegistryAdapter::load_native(runtime.clone(), name, bytes, hosts, tls).await?
    } else {
        RegistryAdapter::load(runtime.clone(), name, bytes, hosts, tls).await?
    };
    if let Some(f) = fixtures {
        adapter.set_transport(Transport::Fixtures(f));
    }
    let recorded = adapter.record_requests();
    let result = match call.function.as_str() {
        "describe" => Ok(
            json!({"name": adapter.name(), "version": adapter.version(), "hosts": adapter.declared_hosts()}),
        ),
        "detect" => adapter
            .detect(&arg(call, 0, "REGISTRY")?)
            .await
            .map(|b| json!(b)),
        "prepare-push" => {
            let registry = arg(call, 0, "REGISTRY")?;
            adapter
                .prepare_push(&registry, &call.args[1..], &call.options)
                .await
                .map(|notes| json!(notes))
        }
        "classify-error" => {
            let status: u16 = arg(call, 0, "STATUS")?
                .parse()
                .map_err(|e| TrialError::BadArgument("STATUS is a number".into(), e))?;
            adapter
                .classify_error(status, &arg(call, 1, "BODY")?)
                .await
                .map(|m| json!(m))
        }
        other => {
            return Err(TrialError::Usage(format!(
                "a registry adapter has describe, detect, prepare-push and classify-error, not {other}"
            )));
        }
    };
    Ok((result, Some(recorded)))
}

async fn generator(
    runtime: &Arc<Runtime>,
    name: &str,
    bytes: &[u8],
    native: bool,
    fixtures: Option<Arc<Fixtures>>,
    call: &Call,
) -> Result<Called, TrialError> {
    use super::list_generator::ListGenerator;
    let mut generator = if native {
        ListGenerator::load_native(runtime.clone(), name, bytes).await?
    } else {
        ListGenerator::load(runtime.clone(), name, bytes).await?
    };
    if let Some(f) = fixtures {
        generator.set_transport(Transport::Fixtures(f));
    }
    let recorded = generator.record_requests();
    let result = match call.function.as_str() {
        "describe" => Ok(
            json!({"name": generator.name(), "version": generator.version(), "hosts": generator.declared_hosts()}),
        ),
        "generate" => generator
            .generate(&call.options, call.paths.clone(), &call.allow_host)
            .await
            .map(|generated| {
                json!(
                    generated
                        .entries
                        .iter()
                        .map(|e| json!({"reference": e.reference, "os": e.os, "source": e.source}))
                        .collect::<Vec<_>>()
                )
            }),
        other => {
            return Err(TrialError::Usage(format!(
                "a list generator has describe and generate, not {other}"
            )));
        }
    };
    Ok((result, Some(recorded)))
}

/// OS/ARCH[/VARIANT], linux/amd64 filling what is missing.
fn platform(text: &str) -> Platform {
    let mut parts = text.split('/');
    Platform {
        os: parts.next().unwrap_or("linux").to_string(),
        architecture: parts.next().unwrap_or("amd64").to_string(),
        variant: parts.next().map(str::to_string),
    }
}

async fn scan(
    runtime: &Arc<Runtime>,
    name: &str,
    bytes: &[u8],
    call: &Call,
) -> Result<Result<Value, PluginError>, TrialError> {
    use super::scanner::Scanner;
    let scanner = Scanner::load(runtime.clone(), name, bytes).await?;
    match call.function.as_str() {
        "describe" => Ok(Ok(
            json!({"name": scanner.name(), "version": scanner.version()}),
        )),
        "scan" => {
            let platform = platform(&call.platform);
            let (label, tree): (String, Arc<dyn Tree>) = match (&call.image, &call.rootfs) {
                (Some(image), _) => {
                    let reference = Reference::parse(image)?;
                    let registries = Registries::new(RegistryOptions {
                        tls_verify: Some(call.tls_verify),
                        ..RegistryOptions::default()
                    });
                    let wanted = hangar_image::platform::Platform::new(
                        &platform.os,
                        &platform.architecture,
                        platform.variant.as_deref(),
                    );
                    let tree =
                        super::image_source::layer_tree(&registries, &reference, &wanted).await?;
                    (image.clone(), Arc::new(tree))
                }
                (None, Some(rootfs)) => (
                    rootfs.display().to_string(),
                    Arc::new(DirTree::new(rootfs.clone())),
                ),
                (None, None) => {
                    return Err(TrialError::Usage(
                        "scan needs --image REF or --rootfs DIR".into(),
                    ));
                }
            };
            Ok(scanner
                .scan(&label, &platform, tree, &call.options, call.paths.clone())
                .await
                .map(|r| super::scanner::report_json(&r)))
        }
        other => Err(TrialError::Usage(format!(
            "a scanner has describe and scan, not {other}"
        ))),
    }
}

async fn sbom(
    runtime: &Arc<Runtime>,
    name: &str,
    bytes: &[u8],
    call: &Call,
) -> Result<Result<Value, PluginError>, TrialError> {
    use super::sbom::{SbomGenerator, Subject};
    let generator = SbomGenerator::load(runtime.clone(), name, bytes).await?;
    match call.function.as_str() {
        "describe" => Ok(Ok(
            json!({"name": generator.name(), "version": generator.version()}),
        )),
        "formats" => Ok(Ok(json!(generator.formats()))),
        "generate" => {
            let format = arg(call, 0, "FORMAT")?;
            let path = PathBuf::from(arg(call, 1, "REPORT.json (a scanner report)")?);
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|source| TrialError::Read {
                path: shown.clone(),
                source,
            })?;
            let value: Value =
                serde_json::from_str(&text).map_err(|source| TrialError::NotJson {
                    path: shown.clone(),
                    source,
                })?;
            // `plugin test SCANNER scan` output, or the bare report.
            let report = super::scanner::report_from_json(value.get("result").unwrap_or(&value))
                .ok_or_else(|| {
                    TrialError::Usage(format!(
                        "{shown}: not a scanner report (no \"packages\" array)"
                    ))
                })?;
            let subject = Subject {
                image: call.image.clone().unwrap_or(shown),
                digest: String::new(),
                platform: platform(&call.platform),
                tools: vec![call.tool.clone()],
            };
            let created =
                hangar_archive::index::rfc3339_seconds(&hangar_archive::index::rfc3339_now());
            // JSON documents are shown as JSON, anything else as text.
            Ok(generator
                .generate(&format, &subject, &report, &created)
                .await
                .map(|document| serde_json::from_str(&document).unwrap_or(Value::String(document))))
        }
        other => Err(TrialError::Usage(format!(
            "an sbom generator has describe, formats and generate, not {other}"
        ))),
    }
}
