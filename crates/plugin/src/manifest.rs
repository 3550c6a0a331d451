//! What a plugin is, in one record kept beside it: name, version, world, the capabilities it
//! asks for, and the SHA-256 of its file. `describe` makes one from a component by reading its
//! imports and exports and asking the plugin itself; the host refuses a plugin built for
//! another contract version before running any of its code.

use super::list_generator::ListGenerator;
use super::registry_adapter::RegistryAdapter;
use super::runtime::{PluginError, Runtime};
use super::sbom::SbomGenerator;
use super::scanner::Scanner;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;

/// The contract this host speaks.
pub const CONTRACT: &str = "hangar:plugin@0.1.1";
const PACKAGE: &str = "hangar:plugin";
/// Every contract version this host loads: 0.1.x releases only add imports a plugin may use
/// (0.1.1: `endpoints`), and wasmtime links a 0.1.0 plugin's imports and exports to the 0.1.1
/// definitions by semver. A later 0.1.x could need imports this host lacks, so it is refused.
const SPOKEN: [&str; 2] = ["0.1.0", "0.1.1"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    RegistryAdapter,
    ListGenerator,
    Scanner,
    SbomGenerator,
}

impl World {
    pub const ALL: [World; 4] = [
        World::RegistryAdapter,
        World::ListGenerator,
        World::Scanner,
        World::SbomGenerator,
    ];

    /// The interface the world exports (`registry-adapter`...).
    pub fn interface(self) -> &'static str {
        match self {
            World::RegistryAdapter => "registry-adapter",
            World::ListGenerator => "list-generator",
            World::Scanner => "scanner",
            World::SbomGenerator => "sbom-generator",
        }
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.interface())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A WebAssembly component, sandboxed.
    Wasm,
    /// A shared library (trusted code, opt-in).
    Native,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub world: World,
    pub contract: String,
    pub kind: Kind,
    /// Hosts the plugin may reach over `http` (`$registry`: the registry a call is about).
    pub hosts: Vec<String>,
    /// Host interfaces the plugin imports (`log`, `http`, `files`, `image-fs`).
    pub capabilities: Vec<String>,
    /// SHA-256 of the plugin file, hex.
    pub sha256: String,
    /// Size of the plugin file in bytes.
    pub size: u64,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The world a component exports, from its export names; a component built for another
/// version of the contract is refused here, before it runs.
pub fn world_of(
    runtime: &Runtime,
    name: &str,
    bytes: &[u8],
) -> Result<(World, Vec<String>, String), PluginError> {
    let fail = |message: String| PluginError::Load {
        plugin: name.to_string(),
        message,
    };
    let component = runtime.component(name, bytes)?;
    let ty = component.component_type();
    let mut world = None;
    let mut contract = CONTRACT.to_string();
    for (export, _) in ty.exports(&runtime.engine) {
        let Some(rest) = export.strip_prefix(&format!("{PACKAGE}/")) else {
            continue;
        };
        let (interface, version) = rest.split_once('@').unwrap_or((rest, "?"));
        let Some(found) = World::ALL.iter().find(|w| w.interface() == interface) else {
            continue;
        };
        if !SPOKEN.contains(&version) {
            return Err(fail(format!(
                "built for {PACKAGE}@{version}, but this hangar speaks {CONTRACT}; rebuild it with a matching hangar-plugin-sdk"
            )));
        }
        world = Some(*found);
        contract = format!("{PACKAGE}@{version}");
    }
    let world = world.ok_or_else(|| {
        fail(format!(
            "exports none of the {CONTRACT} worlds (registry-adapter, list-generator, scanner, sbom-generator)"
        ))
    })?;
    let mut capabilities = Vec::new();
    for (import, _) in ty.imports(&runtime.engine) {
        if let Some(rest) = import.strip_prefix(&format!("{PACKAGE}/")) {
            let (interface, version) = rest.split_once('@').unwrap_or((rest, "?"));
            if !SPOKEN.contains(&version) {
                return Err(fail(format!(
                    "imports {PACKAGE}/{interface}@{version}, but this hangar speaks {CONTRACT}"
                )));
            }
            if interface != "types" {
                capabilities.push(interface.to_string());
            }
        }
    }
    capabilities.sort();
    Ok((world, capabilities, contract))
}

/// The manifest of a WebAssembly plugin: its world and imports from the component, its name,
/// version and hosts from its own `describe`.
pub async fn describe(
    runtime: &Arc<Runtime>,
    name: &str,
    bytes: &[u8],
) -> Result<Manifest, PluginError> {
    let (world, capabilities, contract) = world_of(runtime, name, bytes)?;
    let (name, version, hosts) = match world {
        World::RegistryAdapter => {
            let p = RegistryAdapter::load(runtime.clone(), name, bytes, Vec::new(), true).await?;
            (
                p.name().to_string(),
                p.version().to_string(),
                p.declared_hosts().to_vec(),
            )
        }
        World::ListGenerator => {
            let p = ListGenerator::load(runtime.clone(), name, bytes).await?;
            (
                p.name().to_string(),
                p.version().to_string(),
                p.declared_hosts().to_vec(),
            )
        }
        World::Scanner => {
            let p = Scanner::load(runtime.clone(), name, bytes).await?;
            (p.name().to_string(), p.version().to_string(), Vec::new())
        }
        World::SbomGenerator => {
            let p = SbomGenerator::load(runtime.clone(), name, bytes).await?;
            (p.name().to_string(), p.version().to_string(), Vec::new())
        }
    };
    check_name(&name).map_err(|message| PluginError::Load {
        plugin: name.clone(),
        message,
    })?;
    Ok(Manifest {
        name,
        version,
        world,
        contract,
        kind: Kind::Wasm,
        hosts,
        capabilities,
        sha256: sha256_hex(bytes),
        size: bytes.len() as u64,
    })
}

/// Plugin names become directory names: lowercase letters, digits, `-` and `_` only.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "calls itself {name:?}; a plugin name is 1-64 of a-z, 0-9, - and _"
        ))
    }
}

/// The manifest of a native plugin (trusted code: the caller has checked the user allows
/// native plugins). Its world comes from the ABI's `contract` answer.
pub async fn describe_native(
    runtime: &Arc<Runtime>,
    label: &str,
    bytes: &[u8],
) -> Result<Manifest, PluginError> {
    let adapter =
        RegistryAdapter::load_native(runtime.clone(), label, bytes, Vec::new(), true).await;
    let (world, name, version, hosts) = match adapter {
        Ok(p) => (
            World::RegistryAdapter,
            p.name().to_string(),
            p.version().to_string(),
            p.declared_hosts().to_vec(),
        ),
        Err(PluginError::Load { message, .. }) if message.contains("not a registry-adapter") => {
            let p = ListGenerator::load_native(runtime.clone(), label, bytes).await?;
            (
                World::ListGenerator,
                p.name().to_string(),
                p.version().to_string(),
                p.declared_hosts().to_vec(),
            )
        }
        Err(e) => return Err(e),
    };
    check_name(&name).map_err(|message| PluginError::Load {
        plugin: name.clone(),
        message,
    })?;
    let capabilities = match world {
        World::ListGenerator => vec!["files".into(), "http".into(), "log".into()],
        _ => vec!["http".into(), "log".into()],
    };
    Ok(Manifest {
        name,
        version,
        world,
        contract: CONTRACT.to_string(),
        kind: Kind::Native,
        hosts,
        capabilities,
        sha256: sha256_hex(bytes),
        size: bytes.len() as u64,
    })
}
