//! `hangar login` / `hangar logout`: verified credentials in the containers auth file.

use super::Status;
use super::args::TlsArgs;
use crate::image::reference::DOCKER_HUB;
use crate::registry::{AuthFile, Credential, Registry, auth_file_for_login};
use anyhow::{Context as _, bail};
use clap::Args;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Registry (host[:port], optionally host/namespace)
    registry: Option<String>,
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Password (prefer --password-stdin: arguments are visible to other users)
    #[arg(short = 'p', long)]
    password: Option<String>,
    /// Read the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// Auth file to write (default: $REGISTRY_AUTH_FILE or ${XDG_RUNTIME_DIR}/containers/auth.json)
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
    /// Directory with ca.crt / client.cert / client.key for this registry
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// Print the user name stored for the registry and exit
    #[arg(long)]
    get_login: bool,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Registry (host[:port])
    registry: Option<String>,
    /// Remove the credentials of every registry
    #[arg(short = 'a', long)]
    all: bool,
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
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
    let registry = args.registry.as_deref().context("registry not provided")?;
    let (host, key) = normalize(registry);
    let path = auth_file_for_login(args.authfile.as_deref());
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
    let mut opts = args.tls.registry_options();
    if let Some(dir) = &args.cert_dir {
        // --cert-dir names the directory of this one registry: present it as a certs.d root.
        let root = tempfile_root(dir, &host)?;
        opts.extra_certs_roots.push(root);
    }
    let credential = Credential::Basic {
        username: username.clone(),
        password: password.clone(),
    };
    let connected = Registry::connect(&host, &opts, Some(Some(credential))).await?;
    connected
        .verify_credentials()
        .await
        .with_context(|| format!("login to {host} failed"))?;
    let mut file =
        AuthFile::load(&path).with_context(|| format!("cannot read {}", path.display()))?;
    file.set(&key, &username, &password);
    file.save()
        .with_context(|| format!("cannot write {}", path.display()))?;
    outln!("Login Succeeded!")?;
    Ok(Status::Success)
}

/// Builds `<tmp>/<host>` pointing at `dir`, so a per-registry directory can serve as a root.
fn tempfile_root(dir: &std::path::Path, host: &str) -> anyhow::Result<PathBuf> {
    let root = std::env::temp_dir().join(format!("hangar-certs-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let link = root.join(host);
    if !link.exists() {
        #[cfg(unix)]
        std::os::unix::fs::symlink(std::fs::canonicalize(dir)?, &link)
            .with_context(|| format!("cannot use --cert-dir {}", dir.display()))?;
    }
    Ok(root)
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<Status> {
    let path = auth_file_for_login(args.authfile.as_deref());
    let mut file =
        AuthFile::load(&path).with_context(|| format!("cannot read {}", path.display()))?;
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
