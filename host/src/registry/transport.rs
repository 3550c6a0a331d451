//! One HTTP client per registry host, carrying that host's TLS settings: verification on by
//! default, CA certificates (`*.crt`) and client certificates (`*.cert` + `*.key`) from
//! `certs.d/<host>/` directories, and `--tls-verify=false` to accept self-signed certificates
//! (the caller then also falls back to plain HTTP, as containers/image does).

use super::error::RegistryError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where per-host certificate directories live, searched in order.
pub fn default_certs_roots() -> Vec<PathBuf> {
    vec![
        PathBuf::from("/etc/containers/certs.d"),
        PathBuf::from("/etc/docker/certs.d"),
    ]
}

pub struct TransportConfig<'a> {
    pub host: &'a str,
    pub verify_tls: bool,
    pub certs_roots: &'a [PathBuf],
    pub user_agent: &'a str,
}

pub fn build_client(cfg: &TransportConfig<'_>) -> Result<reqwest::Client, RegistryError> {
    let tls_err = |message: String| RegistryError::Tls {
        host: cfg.host.to_string(),
        message,
    };
    let mut builder = reqwest::Client::builder()
        .user_agent(cfg.user_agent)
        .connect_timeout(Duration::from_secs(30))
        // A stalled stream (no bytes for this long) fails and is retried from the source.
        .read_timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(64)
        .danger_accept_invalid_certs(!cfg.verify_tls);
    for root in cfg.certs_roots {
        let dir = root.join(cfg.host);
        if !dir.is_dir() {
            continue;
        }
        let (cas, identity) = read_cert_dir(&dir).map_err(tls_err)?;
        for ca in cas {
            builder = builder.add_root_certificate(ca);
        }
        if let Some(id) = identity {
            builder = builder.identity(id);
        }
    }
    builder
        .build()
        .map_err(|e| tls_err(super::error::describe(&e)))
}

/// Reads `*.crt` CAs and a `*.cert`/`*.key` client pair, with the same naming as containers/image.
fn read_cert_dir(
    dir: &Path,
) -> Result<(Vec<reqwest::Certificate>, Option<reqwest::Identity>), String> {
    let mut cas = Vec::new();
    let mut identity = None;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                let pem = read(&path)?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
                cas.extend(certs);
            }
            Some("cert") => {
                let key_path = path.with_extension("key");
                if !key_path.exists() {
                    return Err(format!(
                        "{}: client certificate has no matching .key",
                        path.display()
                    ));
                }
                let mut pem = read(&path)?;
                pem.push(b'\n');
                pem.extend(read(&key_path)?);
                identity = Some(reqwest::Identity::from_pem(&pem).map_err(|e| {
                    format!("{}: unusable client certificate: {e}", path.display())
                })?);
            }
            Some("key") if !path.with_extension("cert").exists() => {
                return Err(format!("{}: key has no matching .cert", path.display()));
            }
            _ => {}
        }
    }
    Ok((cas, identity))
}
