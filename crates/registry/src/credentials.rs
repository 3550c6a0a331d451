//! Where credentials come from: the containers auth file and Docker's config.json, in the
//! order podman/skopeo/Hangar read them, with credential helpers and identity tokens handled
//! by the `docker_credential` crate. Also the small writer behind `login`/`logout`.

use super::error::RegistryError;
use base64::Engine as _;
use docker_credential::{CredentialRetrievalError, DockerCredential};
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in config.json), traded for access tokens.
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::IdentityToken(_) => write!(f, "IdentityToken(<redacted>)"),
        }
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn home() -> Option<PathBuf> {
    env_path("HOME")
}

/// The files searched for credentials, most specific first.
pub fn auth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(p) = env_path("REGISTRY_AUTH_FILE") {
        files.push(p);
    } else if let Some(run) = env_path("XDG_RUNTIME_DIR") {
        files.push(run.join("containers/auth.json"));
    }
    if let Some(h) = home() {
        files.push(h.join(".config/containers/auth.json"));
    }
    match env_path("DOCKER_CONFIG") {
        Some(d) => files.push(d.join("config.json")),
        None => {
            if let Some(h) = home() {
                files.push(h.join(".docker/config.json"));
            }
        }
    }
    files.dedup();
    files
}

/// The auth-file keys that may hold credentials for `host` (and, more specifically, for a
/// repository on it, as containers' auth files allow `host/namespace` keys).
fn candidate_keys(host: &str, repository: Option<&str>) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(repo) = repository {
        let parts: Vec<&str> = repo.split('/').collect();
        for n in (1..=parts.len()).rev() {
            keys.push(format!("{host}/{}", parts[..n].join("/")));
        }
    }
    if host == hangar_image::reference::DOCKER_HUB {
        keys.extend(
            [
                "https://index.docker.io/v1/",
                "docker.io",
                "index.docker.io",
                "registry-1.docker.io",
            ]
            .map(String::from),
        );
    } else {
        keys.push(host.to_string());
    }
    keys
}

/// Looks up credentials for a registry host (`docker.io` for Docker Hub).
pub fn lookup_credential(
    host: &str,
    repository: Option<&str>,
) -> Result<Option<Credential>, RegistryError> {
    let keys = candidate_keys(host, repository);
    for file in auth_files() {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        // Entries saved for a namespace (`hangar login reg/ns`) serve the whole registry
        // until credentials are chosen per repository: tried after the exact keys.
        let mut keys = keys.clone();
        if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let Some(auths) = doc.get("auths").and_then(|a| a.as_object())
        {
            let prefix = format!("{host}/");
            keys.extend(auths.keys().filter(|k| k.starts_with(&prefix)).cloned());
        }
        for key in &keys {
            match docker_credential::get_credential_from_reader(bytes.as_slice(), key) {
                Ok(DockerCredential::UsernamePassword(username, password)) => {
                    return Ok(Some(Credential::Basic { username, password }));
                }
                Ok(DockerCredential::IdentityToken(t)) => {
                    return Ok(Some(Credential::IdentityToken(t)));
                }
                Err(CredentialRetrievalError::NoCredentialConfigured) => continue,
                // A helper (credsStore/credHelpers) that has nothing for this key, or is not
                // installed, means "no credentials here": public registries must still work
                // for people whose config names a helper.
                Err(
                    e @ (CredentialRetrievalError::HelperFailure { .. }
                    | CredentialRetrievalError::HelperCommunicationError
                    | CredentialRetrievalError::MalformedHelperResponse),
                ) => {
                    tracing::debug!(
                        "credentials for {key} from {}: {}",
                        file.display(),
                        e.to_string().trim()
                    );
                    continue;
                }
                Err(e) => {
                    tracing::warn!(
                        "ignoring {} for {host}: {}",
                        file.display(),
                        e.to_string().trim()
                    );
                    break;
                }
            }
        }
    }
    Ok(None)
}

/// The file `login` writes: `--authfile`, else `$REGISTRY_AUTH_FILE`, else
/// `${XDG_RUNTIME_DIR}/containers/auth.json`, else `~/.config/containers/auth.json`.
pub fn auth_file_for_login(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = env_path("REGISTRY_AUTH_FILE") {
        return p;
    }
    if let Some(run) = env_path("XDG_RUNTIME_DIR") {
        return run.join("containers/auth.json");
    }
    home()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".config/containers/auth.json")
}

/// A containers/Docker auth file, edited in place: unknown keys (credHelpers, …) are kept.
pub struct AuthFile {
    path: PathBuf,
    doc: serde_json::Map<String, serde_json::Value>,
}

impl AuthFile {
    pub fn load(path: &Path) -> std::io::Result<AuthFile> {
        let doc = match std::fs::read(path) {
            Ok(bytes) if !bytes.iter().all(u8::is_ascii_whitespace) => {
                serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?
            }
            Ok(_) => serde_json::Map::new(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Map::new(),
            Err(e) => return Err(e),
        };
        Ok(AuthFile {
            path: path.to_path_buf(),
            doc,
        })
    }

    fn auths(&mut self) -> &mut serde_json::Map<String, serde_json::Value> {
        let entry = self
            .doc
            .entry("auths")
            .or_insert_with(|| serde_json::json!({}));
        if !entry.is_object() {
            *entry = serde_json::json!({});
        }
        entry.as_object_mut().expect("just made an object")
    }

    pub fn set(&mut self, key: &str, username: &str, password: &str) {
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        self.auths()
            .insert(key.to_string(), serde_json::json!({ "auth": auth }));
    }

    /// Removes a key (and Docker Hub's aliases); true when something was removed.
    pub fn remove(&mut self, key: &str) -> bool {
        let keys = candidate_keys(key, None);
        let auths = self.auths();
        let mut removed = false;
        for k in keys.iter().map(String::as_str).chain([key]) {
            removed |= auths.remove(k).is_some();
        }
        removed
    }

    pub fn clear(&mut self) {
        self.auths().clear();
    }

    /// Writes through a temporary file and a rename, so a crash never leaves half a file; a
    /// linked auth file (dotfiles, mounted secrets) is rewritten at its target, the link kept.
    pub fn save(&self) -> std::io::Result<()> {
        let mut body = serde_json::to_vec_pretty(&self.doc).map_err(std::io::Error::other)?;
        body.push(b'\n');
        hangar_outfile::write_private(&self.path, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cover_docker_hub_aliases_and_namespaces() {
        let k = candidate_keys("docker.io", Some("library/nginx"));
        assert_eq!(k[0], "docker.io/library/nginx");
        assert!(k.contains(&"https://index.docker.io/v1/".to_string()));
        assert_eq!(
            candidate_keys("reg:5000", None),
            vec!["reg:5000".to_string()]
        );
    }

    #[test]
    fn namespace_entries_serve_their_registry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        let mut f = AuthFile::load(&path).unwrap();
        f.set("reg.example:5000/team", "u", "p");
        f.save().unwrap();
        // The only unit test that touches REGISTRY_AUTH_FILE, so it races with nothing.
        unsafe { std::env::set_var("REGISTRY_AUTH_FILE", &path) };
        let found = lookup_credential("reg.example:5000", None).unwrap();
        unsafe { std::env::remove_var("REGISTRY_AUTH_FILE") };
        assert_eq!(
            found,
            Some(Credential::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
    }

    #[test]
    fn auth_file_round_trip_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        std::fs::write(&path, r#"{"credHelpers":{"x.io":"pass"},"auths":{}}"#).unwrap();
        let mut f = AuthFile::load(&path).unwrap();
        f.set("reg:5000", "u", "p:w");
        f.save().unwrap();
        let creds = docker_credential::get_credential_from_reader(
            std::fs::read(&path).unwrap().as_slice(),
            "reg:5000",
        );
        assert_eq!(
            creds.unwrap(),
            DockerCredential::UsernamePassword("u".into(), "p:w".into())
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["credHelpers"]["x.io"], "pass");
        let mut f = AuthFile::load(&path).unwrap();
        assert!(f.remove("reg:5000"));
        assert!(!f.remove("reg:5000"));
    }
}
