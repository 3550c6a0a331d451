//! `hangar login` / `hangar logout`: verified credentials in the containers auth file.

use super::Status;
use super::args::{TlsArgs, parse_duration};
use crate::image::reference::DOCKER_HUB;
use crate::registry::{
    AuthFile, Credential, Registry, RegistryError, RegistryOptions, auth_file_for_login,
};
use anyhow::{Context as _, bail};
use clap::Args;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Registry (host[:port], optionally host/namespace)
    registry: Option<String>,
    /// User name (asked on the terminal when not given)
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Password (prefer --password-stdin: arguments are visible to other users)
    #[arg(short = 'p', long)]
    password: Option<String>,
    /// Read the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// Auth file to write (default: $REGISTRY_AUTH_FILE or ${XDG_RUNTIME_DIR}/containers/auth.json)
    #[arg(long, value_name = "FILE", conflicts_with = "compat_auth_file")]
    authfile: Option<PathBuf>,
    /// Docker-compatible config file (~/.docker/config.json) to write instead of the auth file
    #[arg(long, value_name = "FILE")]
    compat_auth_file: Option<PathBuf>,
    /// Directory with the registry's certificates (ca.crt, client.cert, client.key), or a
    /// certs.d-style root holding <host>/ with them
    #[arg(long, value_name = "DIR", alias = "certs-dir")]
    cert_dir: Option<PathBuf>,
    /// Print the user name stored for the registry and exit
    #[arg(long)]
    get_login: bool,
    /// Debug logs, and the auth file written
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Time limit for the login (0: none)
    #[arg(long, default_value = "0", value_parser = parse_duration, value_name = "DURATION")]
    timeout: Duration,
    /// How many times a login that failed on the way (network, 5xx, 429) is tried again
    #[arg(long, default_value_t = 3, value_name = "N")]
    retry_times: u32,
    /// Require HTTPS and verify certificates (--tls-verify=false accepts self-signed
    /// certificates and falls back to plain HTTP)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    tls_verify: Option<bool>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Registry (host[:port], optionally host/namespace)
    registry: Option<String>,
    /// Remove the credentials of every registry
    #[arg(short = 'a', long)]
    all: bool,
    /// Auth file to edit (default: $REGISTRY_AUTH_FILE or ${XDG_RUNTIME_DIR}/containers/auth.json)
    #[arg(long, value_name = "FILE", conflicts_with = "compat_auth_file")]
    authfile: Option<PathBuf>,
    /// Docker-compatible config file (~/.docker/config.json) to edit instead of the auth file
    #[arg(long, value_name = "FILE")]
    compat_auth_file: Option<PathBuf>,
    /// Accepted for Hangar's scripts: logout only edits a file (no network)
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    timeout: Option<Duration>,
    /// Accepted for Hangar's scripts: logout only edits a file (no network)
    #[arg(long, value_name = "N")]
    retry_times: Option<u32>,
    /// Accepted for Hangar's scripts: logout only edits a file (no network)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    tls_verify: Option<bool>,
}

/// The file login and logout edit: --compat-auth-file, else --authfile, else the default.
fn auth_path(authfile: Option<&Path>, compat: Option<&Path>) -> PathBuf {
    compat
        .map(Path::to_path_buf)
        .unwrap_or_else(|| auth_file_for_login(authfile))
}

/// Where credentials for `key` are stored: Docker keeps Docker Hub's under its v1 URL, which
/// is what docker reads from a Docker-compatible file.
fn stored_key(key: &str, compat: bool) -> String {
    if compat && key == DOCKER_HUB {
        DOCKER_HUB_V1.to_string()
    } else {
        key.to_string()
    }
}

const DOCKER_HUB_V1: &str = "https://index.docker.io/v1/";

/// An auth file, read; its own error names the file when it is malformed.
fn load_auth_file(path: &Path) -> anyhow::Result<AuthFile> {
    AuthFile::load(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            anyhow::anyhow!("cannot read {e}")
        } else {
            anyhow::anyhow!("cannot read {}: {e}", path.display())
        }
    })
}

/// `https://index.docker.io/v1/` → `docker.io`, `reg:5000/ns` → (`reg:5000`, `reg:5000/ns`).
fn normalize(registry: &str) -> (String, String) {
    let r = registry
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let r = r
        .strip_suffix("/v1")
        .or_else(|| r.strip_suffix("/v2"))
        .unwrap_or(r);
    let (host, rest) = r
        .split_once('/')
        .map(|(h, p)| (h, Some(p)))
        .unwrap_or((r, None));
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB,
        h => h,
    };
    let key = match rest {
        Some(p) if !p.is_empty() => format!("{host}/{p}"),
        _ => host.to_string(),
    };
    (host.to_string(), key)
}

fn prompt(question: &str, secret: bool) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "failed to read {}: stdin is not an interactive terminal",
            if secret { "password" } else { "username" }
        );
    }
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn login(args: LoginArgs) -> anyhow::Result<Status> {
    if args.verbose {
        crate::progress::enable_debug();
    }
    let registry = args.registry.as_deref().context("registry not provided")?;
    let (host, key) = normalize(registry);
    let compat = args.compat_auth_file.is_some();
    let path = auth_path(args.authfile.as_deref(), args.compat_auth_file.as_deref());
    let key = stored_key(&key, compat);
    if args.get_login {
        let file =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        match docker_credential::get_credential_from_reader(file.as_slice(), &key) {
            Ok(docker_credential::DockerCredential::UsernamePassword(u, _)) => outln!("{u}")?,
            _ => bail!("not logged into {key}"),
        }
        return Ok(Status::Success);
    }
    let username = match args.username {
        Some(u) => u,
        None => prompt("Username: ", false)?,
    };
    let password = if args.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut s)
            .context("cannot read the password from stdin")?;
        s.trim_end_matches(['\r', '\n']).to_string()
    } else {
        match args.password {
            Some(p) => p,
            None => prompt("Password: ", true)?,
        }
    };
    if username.is_empty() || password.is_empty() {
        bail!("username and password must not be empty");
    }
    let mut opts = TlsArgs {
        tls_verify: args.tls_verify,
        certs_dir: None,
    }
    .registry_options();
    // Hangar's --retry-times counts the tries after the first.
    opts.retry.attempts = args.retry_times.saturating_add(1);
    // HANGAR_CERTS_D is a certs.d-style root for every command, login included.
    if let Some(root) = std::env::var_os("HANGAR_CERTS_D").filter(|r| !r.is_empty()) {
        opts.extra_certs_roots.push(PathBuf::from(root));
    }
    let _certs = match &args.cert_dir {
        Some(dir) => Some(cert_dir_root(dir, &host, &mut opts)?),
        None => None,
    };
    let credential = Credential::Basic {
        username: username.clone(),
        password: password.clone(),
    };
    let attempt = check(&host, &opts, credential);
    let checked = if args.timeout.is_zero() {
        attempt.await
    } else {
        tokio::time::timeout(args.timeout, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {} (--timeout)",
                    humantime(args.timeout)
                ))
            })
    };
    if let Err(why) = checked {
        bail!("login to {host} failed: {why}");
    }
    let mut file = load_auth_file(&path)?;
    file.set(&key, &username, &password);
    file.save()
        .with_context(|| format!("cannot write {}", path.display()))?;
    if args.verbose {
        outln!("Used: {}", path.display())?;
    }
    outln!("Login Succeeded!")?;
    Ok(Status::Success)
}

/// Connects to `host` and has it accept `credential`, trying again (as often as
/// `opts.retry` allows) while a failure may pass. The error reads once, after "login to HOST
/// failed: ".
async fn check(host: &str, opts: &RegistryOptions, credential: Credential) -> Result<(), String> {
    let connected = Registry::connect(host, opts, Some(Some(credential)))
        .await
        .map_err(|e| e.to_string())?;
    let mut attempt = 1;
    loop {
        match connected.verify_credentials().await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && attempt < opts.retry.attempts => {
                let wait = opts.retry.delay(attempt, &e);
                tracing::warn!(
                    "login to {host}: {e}; retrying in {wait:?} ({attempt}/{})",
                    opts.retry.attempts - 1
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(login_failure(host, e)),
        }
    }
}

/// The reason a login failed, without the "login to HOST" its error already starts with, and
/// without the "(hangar login HOST)" advice an authentication error gives other commands.
fn login_failure(host: &str, error: RegistryError) -> String {
    if let RegistryError::Unauthorized { detail, .. } = &error {
        return format!("the registry refused the user name and password ({detail})");
    }
    let text = error.to_string();
    text.strip_prefix(&format!("login to {host}: "))
        .map(str::to_string)
        .unwrap_or(text)
}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Adds `dir` to the certificate roots: as it is when it holds `<host>/` (a certs.d-style
/// root, as `--certs-dir` means elsewhere), else through a temporary root in which `<host>`
/// points at it. The returned guard removes that root.
fn cert_dir_root(
    dir: &Path,
    host: &str,
    opts: &mut RegistryOptions,
) -> anyhow::Result<Option<tempfile::TempDir>> {
    if !dir.is_dir() {
        bail!("--cert-dir {}: not a directory", dir.display());
    }
    if dir.join(host).is_dir() {
        opts.extra_certs_roots.push(dir.to_path_buf());
        return Ok(None);
    }
    let root = tempfile::Builder::new()
        .prefix("hangar-certs-")
        .tempdir()
        .context("cannot make a temporary certificates root")?;
    let canonical = std::fs::canonicalize(dir)
        .with_context(|| format!("cannot use --cert-dir {}", dir.display()))?;
    std::os::unix::fs::symlink(canonical, root.path().join(host))
        .with_context(|| format!("cannot use --cert-dir {}", dir.display()))?;
    opts.extra_certs_roots.push(root.path().to_path_buf());
    Ok(Some(root))
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<Status> {
    let _network = (args.timeout, args.retry_times, args.tls_verify);
    let compat = args.compat_auth_file.is_some();
    let path = auth_path(args.authfile.as_deref(), args.compat_auth_file.as_deref());
    let mut file = load_auth_file(&path)?;
    if args.all {
        file.clear();
        file.save()
            .with_context(|| format!("cannot write {}", path.display()))?;
        outln!("Removed login credentials for all registries")?;
        return Ok(Status::Success);
    }
    let registry = args
        .registry
        .as_deref()
        .context("registry not provided (or use --all)")?;
    let (_, key) = normalize(registry);
    let key = stored_key(&key, compat);
    if !file.remove(&key) {
        bail!("not logged into {key}");
    }
    file.save()
        .with_context(|| format!("cannot write {}", path.display()))?;
    outln!("Removed login credentials for {key}")?;
    Ok(Status::Success)
}

#[cfg(test)]
mod tests {
    #[test]
    fn registry_names() {
        assert_eq!(
            super::normalize("https://index.docker.io/v1/"),
            ("docker.io".into(), "docker.io".into())
        );
        assert_eq!(
            super::normalize("reg:5000/ns"),
            ("reg:5000".into(), "reg:5000/ns".into())
        );
        assert_eq!(
            super::normalize("127.0.0.1:5000"),
            ("127.0.0.1:5000".into(), "127.0.0.1:5000".into())
        );
    }
}
