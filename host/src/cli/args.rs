//! Argument groups and value parsers shared by several commands.

use crate::copy::shard::Shard;
use crate::image::platform::PlatformFilter;
use crate::image::reference::Reference;
use crate::registry::{Registries, Registry, RegistryOptions, RetryPolicy};
use anyhow::Context as _;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::plugin::settings::parse_duration;

/// A size for `--split-size`: bytes, or with a K, M, G or T suffix (powers of 1024; `KiB`,
/// `MB`... read the same), at least 1 MiB so a part holds more than zip headers.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 4G, 700M, 1048576)"))?;
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches(['B', 'I'])
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            return Err(format!(
                "{text:?}: unknown size unit {unit:?} (K, M, G or T)"
            ));
        }
    };
    let bytes = number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes < 1 << 20 {
        return Err(format!("{text:?}: parts must be at least 1M"));
    }
    Ok(bytes)
}

/// `--split-size`: write the archive as parts `NAME.zip.000`, `.001`, … of this size.
#[derive(Args, Clone, Debug, Default)]
pub struct SplitArgs {
    /// Write the archive as NAME.zip.000, .001, … of this size (e.g. 4G); `cat` of the parts
    /// is the zip
    #[arg(long = "split-size", value_parser = parse_size, value_name = "SIZE")]
    pub split_size: Option<u64>,
}

/// Comma-separated lists (`-a amd64,arm64`), also accepted as repeated flags.
fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[derive(Args, Clone, Debug)]
pub struct TlsArgs {
    /// Require HTTPS and verify certificates (--tls-verify=false accepts self-signed
    /// certificates and falls back to plain HTTP)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub tls_verify: Option<bool>,
    /// Extra certs.d-style root: <DIR>/<host>/{ca.crt,client.cert,client.key}
    #[arg(
        long,
        env = "HANGAR_CERTS_D",
        value_name = "DIR",
        hide_short_help = true
    )]
    pub certs_dir: Option<PathBuf>,
}

impl TlsArgs {
    pub fn registry_options(&self) -> RegistryOptions {
        let mut opts = RegistryOptions {
            tls_verify: self.tls_verify,
            ..RegistryOptions::default()
        };
        if let Some(dir) = &self.certs_dir {
            opts.extra_certs_roots.push(dir.clone());
        }
        // Test and benchmark harnesses shorten backoff so fault tests stay quick.
        if let Ok(ms) = std::env::var("HANGAR_RETRY_BASE_MS")
            && let Ok(ms) = ms.parse::<u64>()
        {
            opts.retry = RetryPolicy {
                base_delay: Duration::from_millis(ms),
                ..RetryPolicy::default()
            };
        }
        opts
    }
}

/// The IMAGE argument of single-image commands, parsed, and its registry, connected.
pub async fn connect_image(
    image: Option<&str>,
    tls: &TlsArgs,
) -> anyhow::Result<(Reference, Arc<Registry>)> {
    let text = image.context("image reference not provided")?;
    let reference =
        Reference::parse(text).with_context(|| format!("invalid image reference {text:?}"))?;
    let registries = Registries::new(tls.registry_options());
    let registry = registries.get(reference.registry()).await?;
    Ok((reference, registry))
}

/// How a bulk command runs its images: workers, per-image time limit, attestations.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Images processed at once
    #[arg(short = 'j', long = "jobs", default_value_t = 1, value_name = "N")]
    pub jobs: usize,
    /// Time limit for each image
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// Include BuildKit provenance/SBOM attestations (--provenance=false to drop them)
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub provenance: bool,
    /// Handle only part I of N of the list (I from 0, as a Kubernetes Indexed Job's
    /// $(JOB_COMPLETION_INDEX)); the images of a repository stay in one part
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
}

impl RunArgs {
    /// The items of this run's part of the list (all of them without `--shard`);
    /// `group` names an item's repository.
    pub fn shard_of<T>(&self, items: Vec<T>, group: impl Fn(&T) -> String) -> Vec<T> {
        select_shard(self.shard, items, group)
    }

    /// The per-image limit, `None` for `--timeout 0`.
    pub fn time_limit(&self) -> Option<Duration> {
        (!self.timeout.is_zero()).then_some(self.timeout)
    }
}

/// The items of `shard` (all of them for `None`), logged.
pub fn select_shard<T>(
    shard: Option<Shard>,
    items: Vec<T>,
    group: impl Fn(&T) -> String,
) -> Vec<T> {
    let Some(shard) = shard else {
        return items;
    };
    let total = items.len();
    let mine = shard.select(items, group);
    tracing::info!("Shard {shard}: {} of the list's {total} images", mine.len());
    mine
}

/// Whether what is attached to an image (cosign signatures, attestations, SBOMs, OCI
/// referrers) travels with it.
#[derive(Args, Clone, Debug)]
pub struct AttachmentArgs {
    /// Do not copy the signatures, attestations, SBOMs (cosign tags) and OCI referrers of the
    /// copied images
    #[arg(long)]
    pub remove_signatures: bool,
}

#[derive(Args, Clone, Debug)]
pub struct PlatformArgs {
    /// Architectures to copy (comma-separated; empty copies all)
    #[arg(
        short = 'a',
        long = "arch",
        default_value = "amd64,arm64",
        value_name = "LIST"
    )]
    pub arch: Vec<String>,
    /// Operating systems to copy (comma-separated; empty copies all)
    #[arg(long = "os", default_value = "linux", value_name = "LIST")]
    pub os: Vec<String>,
    /// Variants to copy, e.g. v7,v8 (comma-separated; empty copies all)
    #[arg(long = "variant", default_value = "", value_name = "LIST")]
    pub variant: Vec<String>,
}

impl PlatformArgs {
    pub fn filter(&self) -> PlatformFilter {
        PlatformFilter {
            arch: split_list(&self.arch),
            os: split_list(&self.os),
            variant: split_list(&self.variant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("100MiB"), Ok(100 << 20));
        assert_eq!(parse_size("700mb"), Ok(700 << 20));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        for bad in ["", "G", "4X", "12", "1K", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in [
            "",
            "10",
            "10x",
            "m",
            "1h-",
            "99999999999999999999999h",
            "1e400s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_split_on_commas() {
        let p = PlatformArgs {
            arch: vec!["amd64, arm64".into(), "arm".into()],
            os: vec![],
            variant: vec!["".into()],
        };
        let f = p.filter();
        assert_eq!(f.arch, vec!["amd64", "arm64", "arm"]);
        assert!(f.os.is_empty() && f.variant.is_empty());
    }
}

/// Registry adapter plugins around a push (`load`, `mirror`).
#[derive(Args, Clone, Debug)]
pub struct AdapterArgs {
    /// Adapter that prepares the destination (e.g. creates Harbor projects): auto (every
    /// registry adapter known is asked whether it recognises the registry), none, a plugin
    /// name (harbor), or a plugin file [default: config file, else auto]
    #[arg(long = "registry-adapter", value_name = "ADAPTER")]
    pub registry_adapter: Option<String>,
    /// Harbor projects the adapter creates are public (default private)
    #[arg(long = "harbor-public")]
    pub harbor_public: bool,
    /// A setting passed to the registry adapter (repeatable), e.g. public=true
    #[arg(long = "adapter-option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub adapter_option: Vec<(String, String)>,
    /// A host plugins may reach besides the destination registry (repeatable)
    #[arg(long = "plugin-allow-host", value_name = "HOST")]
    pub plugin_allow_host: Vec<String>,
    /// Time limit of each plugin call [default: config file, else 30s]
    #[arg(long = "plugin-timeout", value_parser = parse_duration, value_name = "DURATION")]
    pub plugin_timeout: Option<Duration>,
}

pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

impl AdapterArgs {
    /// The plugin settings of a push: the config file, then these flags.
    pub fn settings(
        &self,
        tls: &TlsArgs,
        global: &super::Global,
    ) -> anyhow::Result<crate::plugin::settings::Settings> {
        let mut adapter_options = self.adapter_option.clone();
        if self.harbor_public {
            adapter_options.push(("public".into(), "true".into()));
        }
        global.plugin_settings(crate::plugin::settings::Overrides {
            registry_adapter: self.registry_adapter.clone(),
            adapter_options,
            allow_hosts: self.plugin_allow_host.clone(),
            timeout: self.plugin_timeout,
            tls_verify: tls.tls_verify,
            ..Default::default()
        })
    }
}
