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

/// An auth file to search, and whether it is in the legacy `~/.dockercfg` layout (registry
/// keys at the top level instead of under `auths`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthFilePath {
    pub path: PathBuf,
    pub legacy: bool,
}

/// The directory podman and skopeo keep the primary auth file in when `XDG_RUNTIME_DIR` is
/// unset (root in a container or a CI job): `/run/containers/$UID`.
fn runtime_dir() -> PathBuf {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    PathBuf::from(format!("/run/containers/{uid}"))
}

/// The files searched for credentials, in containers/image's order (containers-auth.json(5)):
/// the primary file (`$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`,
/// else `/run/containers/$UID/auth.json`), then `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`,
/// Docker's `config.json` (`$DOCKER_CONFIG` or `~/.docker`), and the legacy `~/.dockercfg`.
pub fn auth_files() -> Vec<AuthFilePath> {
    auth_files_with(&env_path, runtime_dir)
}

fn auth_files_with(
    env_path: &dyn Fn(&str) -> Option<PathBuf>,
    runtime_dir: fn() -> PathBuf,
) -> Vec<AuthFilePath> {
    let home = || env_path("HOME");
    let file = |path: PathBuf| AuthFilePath {
        path,
        legacy: false,
    };
    let mut files = Vec::new();
    files.push(file(
        match (env_path("REGISTRY_AUTH_FILE"), env_path("XDG_RUNTIME_DIR")) {
            (Some(p), _) => p,
            (None, Some(run)) => run.join("containers/auth.json"),
            (None, None) => runtime_dir().join("auth.json"),
        },
    ));
    match env_path("XDG_CONFIG_HOME") {
        Some(config) => files.push(file(config.join("containers/auth.json"))),
        None => files.extend(home().map(|h| file(h.join(".config/containers/auth.json")))),
    }
    match env_path("DOCKER_CONFIG") {
        Some(d) => files.push(file(d.join("config.json"))),
        None => files.extend(home().map(|h| file(h.join(".docker/config.json")))),
    }
    files.extend(home().map(|h| AuthFilePath {
        path: h.join(".dockercfg"),
        legacy: true,
    }));
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
    Ok(lookup_in(&auth_files(), host, repository)?.map(|(credential, _)| credential))
}

/// A registry's credentials from the auth files, chosen per repository as containers/image
/// does, asking the files (and their helper programs) only where the answer can differ from
/// the registry's own entry.
pub struct HostCredentials {
    files: Vec<AuthFilePath>,
    host: String,
    /// The `host/namespace` entries the files hold.
    namespaces: Vec<String>,
    /// What requests for no repository use.
    pub registry: Option<Credential>,
    /// Whether `registry` is the registry's own entry (not a namespace entry standing in).
    registry_is_own: bool,
}

impl HostCredentials {
    pub fn load(host: &str) -> Result<HostCredentials, RegistryError> {
        HostCredentials::load_from(auth_files(), host)
    }

    fn load_from(files: Vec<AuthFilePath>, host: &str) -> Result<HostCredentials, RegistryError> {
        let prefix = format!("{host}/");
        let mut namespaces = Vec::new();
        for file in &files {
            namespaces.extend(entries(file).into_iter().filter(|k| k.starts_with(&prefix)));
        }
        let found = lookup_in(&files, host, None)?;
        let registry_is_own = match &found {
            Some((_, key)) => !key.starts_with(&prefix),
            None => namespaces.is_empty(),
        };
        Ok(HostCredentials {
            files,
            host: host.to_string(),
            namespaces,
            registry: found.map(|(credential, _)| credential),
            registry_is_own,
        })
    }

    pub fn for_repository(&self, repository: &str) -> Result<Option<Credential>, RegistryError> {
        let under = |key: &String| {
            let namespace = &key[self.host.len() + 1..];
            repository == namespace
                || repository
                    .strip_prefix(namespace)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        if self.registry_is_own && !self.namespaces.iter().any(under) {
            return Ok(self.registry.clone());
        }
        Ok(lookup_in(&self.files, &self.host, Some(repository))?.map(|(credential, _)| credential))
    }
}

/// The keys of a file's `auths` (reading them runs no helper).
fn entries(file: &AuthFilePath) -> Vec<String> {
    let Ok(bytes) = std::fs::read(&file.path) else {
        return Vec::new();
    };
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    let auths = if file.legacy {
        Some(&doc)
    } else {
        doc.get("auths")
    };
    auths
        .and_then(|a| a.as_object())
        .map(|a| a.keys().cloned().collect())
        .unwrap_or_default()
}

/// The credential for `host` (and `repository`), with the auth-file key it was found under.
fn lookup_in(
    files: &[AuthFilePath],
    host: &str,
    repository: Option<&str>,
) -> Result<Option<(Credential, String)>, RegistryError> {
    let keys = candidate_keys(host, repository);
    for AuthFilePath { path: file, legacy } in files {
        let legacy = *legacy;
        let Ok(mut bytes) = std::fs::read(file) else {
            continue;
        };
        if legacy {
            // `{"registry": {"auth": …}}`: the same entries, without the `auths` level.
            let Ok(entries) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                tracing::warn!("ignoring {}: not JSON", file.display());
                continue;
            };
            bytes = serde_json::to_vec(&serde_json::json!({ "auths": entries }))
                .expect("JSON serializes");
        }
        // For a repository, containers/image's order: its most specific `host/namespace`
        // entry, then the registry's. Namespace keys are asked only where the file has them
        // (a credential helper would otherwise be run once per namespace level). Asked for
        // no repository (the `/v2/` probe, plugin downloads), a namespace entry serves when
        // the registry has none of its own: it is all the user saved for that host.
        let entries: Vec<String> = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|doc| {
                doc.get("auths")?
                    .as_object()
                    .map(|a| a.keys().cloned().collect())
            })
            .unwrap_or_default();
        let prefix = format!("{host}/");
        let mut keys: Vec<String> = keys
            .iter()
            .filter(|k| !k.starts_with(&prefix) || entries.contains(k))
            .cloned()
            .collect();
        if repository.is_none() {
            keys.extend(entries.iter().filter(|k| k.starts_with(&prefix)).cloned());
        }
        for key in &keys {
            match docker_credential::get_credential_from_reader(bytes.as_slice(), key) {
                Ok(DockerCredential::UsernamePassword(username, password)) => {
                    return Ok(Some((
                        Credential::Basic { username, password },
                        key.clone(),
                    )));
                }
                Ok(DockerCredential::IdentityToken(t)) => {
                    return Ok(Some((Credential::IdentityToken(t), key.clone())));
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
    fn auth_files_in_containers_order() {
        let env: std::collections::HashMap<&str, &str> = [("HOME", "/h")].into();
        let lookup = |name: &str| env.get(name).map(PathBuf::from);
        let paths = |files: Vec<AuthFilePath>| -> Vec<(String, bool)> {
            files
                .into_iter()
                .map(|f| (f.path.display().to_string(), f.legacy))
                .collect()
        };
        // Root in a container or a CI job: no XDG_RUNTIME_DIR, so podman and skopeo keep the
        // primary file under /run/containers/$UID.
        assert_eq!(
            paths(auth_files_with(&lookup, || PathBuf::from(
                "/run/containers/0"
            ))),
            vec![
                ("/run/containers/0/auth.json".into(), false),
                ("/h/.config/containers/auth.json".into(), false),
                ("/h/.docker/config.json".into(), false),
                ("/h/.dockercfg".into(), true),
            ]
        );
        let env: std::collections::HashMap<&str, &str> = [
            ("HOME", "/h"),
            ("XDG_RUNTIME_DIR", "/run/user/7"),
            ("XDG_CONFIG_HOME", "/cfg"),
            ("DOCKER_CONFIG", "/d"),
        ]
        .into();
        let lookup = |name: &str| env.get(name).map(PathBuf::from);
        assert_eq!(
            paths(auth_files_with(&lookup, || unreachable!())),
            vec![
                ("/run/user/7/containers/auth.json".into(), false),
                ("/cfg/containers/auth.json".into(), false),
                ("/d/config.json".into(), false),
                ("/h/.dockercfg".into(), true),
            ]
        );
        let env: std::collections::HashMap<&str, &str> = [
            ("HOME", "/h"),
            ("REGISTRY_AUTH_FILE", "/a.json"),
            ("XDG_RUNTIME_DIR", "/r"),
        ]
        .into();
        let lookup = |name: &str| env.get(name).map(PathBuf::from);
        assert_eq!(
            paths(auth_files_with(&lookup, || unreachable!()))[0].0,
            "/a.json"
        );
    }

    #[test]
    fn legacy_dockercfg_and_the_first_file_that_has_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join(".dockercfg");
        std::fs::write(
            &legacy,
            r#"{"old.example": {"auth": "b2xkOnB3", "email": "x@y"}}"#,
        )
        .unwrap();
        let primary = dir.path().join("auth.json");
        let mut f = AuthFile::load(&primary).unwrap();
        f.set("new.example", "new", "pw");
        f.save().unwrap();
        let files = [
            AuthFilePath {
                path: primary,
                legacy: false,
            },
            AuthFilePath {
                path: dir.path().join("absent.json"),
                legacy: false,
            },
            AuthFilePath {
                path: legacy,
                legacy: true,
            },
        ];
        let basic = |u: &str, p: &str| {
            Some(Credential::Basic {
                username: u.into(),
                password: p.into(),
            })
        };
        assert_eq!(
            lookup_in(&files, "old.example", None)
                .unwrap()
                .map(|(c, _)| c),
            basic("old", "pw")
        );
        assert_eq!(
            lookup_in(&files, "new.example", None)
                .unwrap()
                .map(|(c, _)| c),
            basic("new", "pw")
        );
        assert_eq!(
            lookup_in(&files, "none.example", None)
                .unwrap()
                .map(|(c, _)| c),
            None
        );
    }

    /// containers/image's choice: a repository gets its most specific `host/namespace` entry,
    /// then the registry's; without a repository, a namespace entry serves a registry that
    /// has no entry of its own.
    #[test]
    fn namespace_entries_win_for_their_repositories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        let mut f = AuthFile::load(&path).unwrap();
        f.set("reg.example:5000/team", "team", "p1");
        f.set("reg.example:5000/team/app", "app", "p2");
        f.set("reg.example:5000", "registry", "p3");
        f.set("only-ns.example/team", "ns", "p4");
        f.save().unwrap();
        let files = [AuthFilePath {
            path,
            legacy: false,
        }];
        let user = |host: &str, repo: Option<&str>| match lookup_in(&files, host, repo).unwrap() {
            Some((Credential::Basic { username, .. }, _)) => username,
            other => panic!("{other:?}"),
        };
        assert_eq!(user("reg.example:5000", Some("team/app")), "app");
        assert_eq!(user("reg.example:5000", Some("team/app/sub")), "app");
        assert_eq!(user("reg.example:5000", Some("team/other")), "team");
        assert_eq!(user("reg.example:5000", Some("teams/x")), "registry");
        assert_eq!(user("reg.example:5000", None), "registry");
        assert_eq!(user("only-ns.example", None), "ns");
        assert_eq!(
            lookup_in(&files, "only-ns.example", Some("elsewhere/app")).unwrap(),
            None
        );

        // The same answers through a registry's HostCredentials, which skips the files for
        // repositories no namespace entry covers.
        let names = |host: &str, repos: &[&str]| -> Vec<Option<String>> {
            let creds = HostCredentials::load_from(files.to_vec(), host).unwrap();
            repos
                .iter()
                .map(|r| match creds.for_repository(r).unwrap() {
                    Some(Credential::Basic { username, .. }) => Some(username),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            names("reg.example:5000", &["team/app", "team/x", "teams/x", "x"]),
            [
                Some("app"),
                Some("team"),
                Some("registry"),
                Some("registry")
            ]
            .map(|n| n.map(String::from))
        );
        assert_eq!(
            names("only-ns.example", &["team/app", "elsewhere/app"]),
            vec![Some("ns".to_string()), None]
        );
        assert_eq!(names("absent.example", &["a/b"]), vec![None]);
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
