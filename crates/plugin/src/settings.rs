//! Which plugins run and with what limits: the config file
//! (`$XDG_CONFIG_HOME/hangar/config.yaml`, or `$HANGAR_CONFIG`), overridden by flags.
//!
//! ```yaml
//! plugins:
//!   registry-adapter: auto      # auto | none | a plugin name | a .wasm file
//!   adapter-options: { public: "true" }
//!   scanner: osv-scanner
//!   sbom: sbom                  # writes scan's spdx-json and cyclonedx documents
//!   allow-hosts: [harbor.example.com]
//!   paths: [/opt/plugins/acme.wasm]
//!   timeout: 30s
//!   memory-mib: 256
//!   allow-native: false
//! ```

use super::catalog::Catalog;
use super::runtime::Limits;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub plugins: PluginConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PluginConfig {
    pub registry_adapter: Option<String>,
    #[serde(default)]
    pub adapter_options: BTreeMap<String, String>,
    pub scanner: Option<String>,
    pub sbom: Option<String>,
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    pub timeout: Option<String>,
    pub memory_mib: Option<usize>,
    #[serde(default)]
    pub allow_native: bool,
}

impl ConfigFile {
    /// The config file's path: `$HANGAR_CONFIG`, else `$XDG_CONFIG_HOME/hangar/config.yaml`
    /// (or `~/.config/...`).
    pub fn path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("HANGAR_CONFIG").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(p));
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("hangar").join("config.yaml"))
    }

    /// The config file, or the defaults when there is none; a file that does not parse is an
    /// error naming it.
    pub fn load(path: Option<&Path>) -> Result<ConfigFile, String> {
        let Some(path) = path else {
            return Ok(ConfigFile::default());
        };
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Ok(ConfigFile::default()),
            Ok(text) => serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

/// What the plugin side of one command runs with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub catalog: Catalog,
    pub limits: Limits,
    /// Hosts plugins may reach besides the registry a call is about.
    pub allow_hosts: Vec<String>,
    pub allow_native: bool,
    pub registry_adapter: String,
    pub adapter_options: Vec<(String, String)>,
    pub scanner: Option<String>,
    pub sbom: Option<String>,
    pub tls_verify: bool,
}

/// Flags that override the config file (`None`/empty: not given).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub plugin_paths: Vec<PathBuf>,
    pub allow_native: bool,
    pub registry_adapter: Option<String>,
    pub adapter_options: Vec<(String, String)>,
    pub scanner: Option<String>,
    pub sbom: Option<String>,
    pub allow_hosts: Vec<String>,
    pub timeout: Option<Duration>,
    pub tls_verify: Option<bool>,
}

impl Settings {
    /// The config file (`ConfigFile::path`), then `overrides`.
    pub fn load(overrides: Overrides) -> Result<Settings, String> {
        let config = ConfigFile::load(ConfigFile::path().as_deref())?;
        Settings::new(config, overrides)
    }

    pub fn new(config: ConfigFile, overrides: Overrides) -> Result<Settings, String> {
        let plugins = config.plugins;
        let mut limits = Limits::default();
        if let Some(t) = &plugins.timeout {
            limits.time = parse_duration(t).map_err(|e| format!("plugins.timeout: {e}"))?;
        }
        if let Some(mib) = plugins.memory_mib {
            limits.memory = mib << 20;
        }
        if let Some(t) = overrides.timeout {
            limits.time = t;
        }
        let mut adapter_options: BTreeMap<String, String> = plugins.adapter_options;
        adapter_options.extend(overrides.adapter_options);
        let mut paths = overrides.plugin_paths;
        paths.extend(plugins.paths);
        let mut allow_hosts = plugins.allow_hosts;
        allow_hosts.extend(overrides.allow_hosts);
        Ok(Settings {
            catalog: Catalog {
                dir: Catalog::default_dir(),
                given: paths,
                allow_native: overrides.allow_native || plugins.allow_native,
            },
            limits,
            allow_hosts,
            allow_native: overrides.allow_native || plugins.allow_native,
            registry_adapter: overrides
                .registry_adapter
                .or(plugins.registry_adapter)
                .unwrap_or_else(|| "auto".into()),
            adapter_options: adapter_options.into_iter().collect(),
            scanner: overrides.scanner.or(plugins.scanner),
            sbom: overrides.sbom.or(plugins.sbom),
            tls_verify: overrides.tls_verify.unwrap_or(true),
        })
    }
}

/// Parses Go-style durations as Hangar takes them (flags and the config file): `10m`,
/// `1h30m`, `45s`, `500ms`, `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("invalid duration {s:?} (use e.g. 10m, 1h30m, 45s)"));
        }
        let value: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "" => {
                return Err(format!(
                    "invalid duration {s:?}: missing unit (h, m, s, ms)"
                ));
            }
            u => return Err(format!("invalid duration {s:?}: unknown unit {u:?}")),
        };
        let part = Duration::try_from_secs_f64(value * secs)
            .map_err(|_| format!("duration {s:?} is too long"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("duration {s:?} is too long"))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_config_file() {
        let config: ConfigFile = serde_yaml::from_str(
            "plugins:\n  registry-adapter: none\n  timeout: 5s\n  memory-mib: 64\n  adapter-options: {public: 'false', x: y}\n  allow-hosts: [a.example]\n",
        )
        .unwrap();
        let settings = Settings::new(
            config,
            Overrides {
                registry_adapter: Some("harbor".into()),
                adapter_options: vec![("public".into(), "true".into())],
                allow_hosts: vec!["b.example".into()],
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(settings.registry_adapter, "harbor");
        assert_eq!(settings.limits.time, Duration::from_secs(5));
        assert_eq!(settings.limits.memory, 64 << 20);
        assert_eq!(
            settings.adapter_options,
            [("public".into(), "true".into()), ("x".into(), "y".into())]
        );
        assert_eq!(settings.allow_hosts, ["a.example", "b.example"]);
        let bad = serde_yaml::from_str::<ConfigFile>("plugins:\n  registry_adaptor: x\n")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("unknown field `registry_adaptor`"), "{bad}");
    }
}
