//! containers-registries.conf(5), as podman, skopeo and Hangar (through containers/image)
//! read it: which registries are insecure (plain HTTP or unverified TLS without a flag),
//! which are blocked, where a registry really lives (`location`), and the mirrors images are
//! pulled from first. The file is `--registries-conf` or `$CONTAINERS_REGISTRIES_CONF` when
//! given (that file alone), else `${XDG_CONFIG_HOME:-~/.config}/containers/registries.conf`
//! when it exists, else `/etc/containers/registries.conf`, each followed by the drop-ins of
//! `registries.conf.d/` beside it (sorted; an entry replaces the one with the same prefix).
//! Version 1 files (`[registries.insecure]`, `[registries.block]`) are read too. Tables
//! hangar has no use for (search registries, short-name aliases) are ignored.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfError {
    pub path: String,
    pub message: String,
}

/// When a mirror is used: for every pull, only for pulls by digest (a tag on a mirror may
/// lag behind), or only by tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullFromMirror {
    #[default]
    All,
    DigestOnly,
    TagOnly,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    pub location: String,
    pub insecure: bool,
    pub pull_from_mirror: PullFromMirror,
}

/// One `[[registry]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What references it applies to: `host`, `host/namespace…`, or `*.domain`.
    pub prefix: String,
    /// Where those references really are (the prefix is replaced by it).
    pub location: String,
    pub insecure: bool,
    pub blocked: bool,
    pub mirrors: Vec<Mirror>,
}

/// The registries configuration in effect; empty when there is none.
#[derive(Clone, Debug, Default)]
pub struct RegistriesConf {
    entries: Vec<Entry>,
    /// The files read, for messages.
    pub sources: Vec<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct File {
    registry: Vec<RawEntry>,
    registries: Option<V1>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct V1 {
    insecure: V1List,
    block: V1List,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct V1List {
    registries: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct RawEntry {
    prefix: String,
    location: String,
    insecure: bool,
    blocked: bool,
    mirror: Vec<RawMirror>,
    mirror_by_digest_only: bool,
    pull_from_mirror: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct RawMirror {
    location: String,
    insecure: bool,
    pull_from_mirror: String,
}

fn pull_from(value: &str, digest_only: bool, path: &Path) -> Result<PullFromMirror, ConfError> {
    Ok(match value {
        "" if digest_only => PullFromMirror::DigestOnly,
        "" | "all" => PullFromMirror::All,
        "digest-only" => PullFromMirror::DigestOnly,
        "tag-only" => PullFromMirror::TagOnly,
        other => {
            return Err(ConfError {
                path: path.display().to_string(),
                message: format!(
                    "pull-from-mirror = {other:?}: expected \"all\", \"digest-only\" or \"tag-only\""
                ),
            });
        }
    })
}

impl RegistriesConf {
    /// Reads the configuration: `explicit` alone when given, else the user's or the system's
    /// file with its drop-ins. Missing files are no configuration; a malformed one is an error.
    pub fn load(explicit: Option<&Path>) -> Result<RegistriesConf, ConfError> {
        let mut conf = RegistriesConf::default();
        let mut by_prefix: BTreeMap<String, (usize, Entry)> = BTreeMap::new();
        for path in files(explicit) {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            conf.sources.push(path.clone());
            for entry in parse(&text, &path)? {
                let order = by_prefix.len();
                let order = by_prefix.get(&entry.prefix).map_or(order, |(o, _)| *o);
                by_prefix.insert(entry.prefix.clone(), (order, entry));
            }
        }
        let mut entries: Vec<(usize, Entry)> = by_prefix.into_values().collect();
        entries.sort_by_key(|(order, _)| *order);
        conf.entries = entries.into_iter().map(|(_, e)| e).collect();
        Ok(conf)
    }

    #[cfg(test)]
    fn from_text(text: &str) -> RegistriesConf {
        RegistriesConf {
            entries: parse(text, Path::new("test.conf")).unwrap(),
            sources: Vec::new(),
        }
    }

    /// The entry for `reference` (`host/repository…`, no tag): the longest matching prefix,
    /// exact prefixes before `*.domain` ones.
    pub fn find(&self, reference: &str) -> Option<&Entry> {
        let host = reference.split('/').next().unwrap_or(reference);
        let exact = self
            .entries
            .iter()
            .filter(|e| !e.prefix.starts_with("*."))
            .filter(|e| {
                reference == e.prefix
                    || reference
                        .strip_prefix(e.prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|e| e.prefix.len());
        exact.or_else(|| {
            self.entries
                .iter()
                .filter(|e| {
                    e.prefix
                        .strip_prefix('*')
                        .is_some_and(|domain| host.ends_with(domain))
                })
                .max_by_key(|e| e.prefix.len())
        })
    }

    /// Whether `host` is to be reached without TLS verification: an entry or a mirror whose
    /// location is that host says `insecure = true`.
    pub fn insecure(&self, host: &str) -> bool {
        let on_host = |location: &str| location.split('/').next() == Some(host);
        self.entries.iter().any(|e| {
            (e.insecure && (on_host(&e.location) || on_host(&e.prefix)))
                || e.mirrors.iter().any(|m| m.insecure && on_host(&m.location))
        })
    }

    /// The entry that blocks `reference`, if one does.
    pub fn blocked(&self, reference: &str) -> Option<&Entry> {
        self.find(reference).filter(|e| e.blocked)
    }

    /// Where to pull `reference` (`host/repository`) from, in order: the mirrors that apply
    /// (`by_digest`: the pull names a digest), then the registry itself (at its `location`).
    pub fn pull_sources(&self, reference: &str, by_digest: bool) -> Vec<String> {
        let Some(entry) = self.find(reference) else {
            return vec![reference.to_string()];
        };
        let rest = if entry.prefix.starts_with("*.") {
            reference.split_once('/').map(|(_, r)| format!("/{r}"))
        } else {
            reference
                .strip_prefix(entry.prefix.as_str())
                .map(str::to_string)
        }
        .unwrap_or_default();
        let mut sources: Vec<String> = entry
            .mirrors
            .iter()
            .filter(|m| match m.pull_from_mirror {
                PullFromMirror::All => true,
                PullFromMirror::DigestOnly => by_digest,
                PullFromMirror::TagOnly => !by_digest,
            })
            .map(|m| format!("{}{rest}", m.location))
            .collect();
        sources.push(if entry.prefix.starts_with("*.") {
            reference.to_string()
        } else {
            format!("{}{rest}", entry.location)
        });
        sources
    }
}

fn parse(text: &str, path: &Path) -> Result<Vec<Entry>, ConfError> {
    let fail = |message: String| ConfError {
        path: path.display().to_string(),
        message,
    };
    let file: File = toml::from_str(text).map_err(|e| fail(e.message().to_string()))?;
    let mut entries = Vec::new();
    for raw in file.registry {
        let prefix = if raw.prefix.is_empty() {
            raw.location.clone()
        } else {
            raw.prefix.clone()
        };
        if prefix.is_empty() {
            return Err(fail(
                "a [[registry]] entry has neither prefix nor location".into(),
            ));
        }
        let location = if raw.location.is_empty() {
            prefix.clone()
        } else {
            raw.location.clone()
        };
        if prefix.starts_with("*.") && !raw.location.is_empty() {
            return Err(fail(format!(
                "prefix {prefix:?}: a wildcard prefix cannot have a location"
            )));
        }
        let default_pull = pull_from(&raw.pull_from_mirror, raw.mirror_by_digest_only, path)?;
        let mut mirrors = Vec::new();
        for m in raw.mirror {
            let pull_from_mirror = if m.pull_from_mirror.is_empty() {
                default_pull
            } else {
                pull_from(&m.pull_from_mirror, false, path)?
            };
            mirrors.push(Mirror {
                location: m.location,
                insecure: m.insecure,
                pull_from_mirror,
            });
        }
        entries.push(Entry {
            prefix,
            location,
            insecure: raw.insecure,
            blocked: raw.blocked,
            mirrors,
        });
    }
    if let Some(v1) = file.registries {
        for (hosts, insecure, blocked) in [
            (v1.insecure.registries, true, false),
            (v1.block.registries, false, true),
        ] {
            for host in hosts {
                entries.push(Entry {
                    prefix: host.clone(),
                    location: host,
                    insecure,
                    blocked,
                    mirrors: Vec::new(),
                });
            }
        }
    }
    Ok(entries)
}

/// The files read, in order: an explicit one alone, else the main file and its drop-ins.
fn files(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.to_path_buf()];
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })
        .map(|c| c.join("containers"));
    let user = config.as_ref().map(|c| c.join("registries.conf"));
    let main = match user.filter(|u| u.is_file()) {
        Some(user) => user,
        None => PathBuf::from("/etc/containers/registries.conf"),
    };
    let mut files = vec![main];
    let mut dirs = vec![PathBuf::from("/etc/containers/registries.conf.d")];
    dirs.extend(config.map(|c| c.join("registries.conf.d")));
    for dir in dirs {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut drop_ins: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        drop_ins.sort();
        files.extend(drop_ins);
    }
    files
}

static CONF: OnceLock<RegistriesConf> = OnceLock::new();

/// Sets the configuration for the process (the binary does it once, at start).
pub fn set_registries_conf(conf: RegistriesConf) {
    let _ = CONF.set(conf);
}

/// The configuration in effect: what was set, else none (library users and tests).
pub fn registries_conf() -> &'static RegistriesConf {
    CONF.get_or_init(RegistriesConf::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF_TEXT: &str = r#"
unqualified-search-registries = ["docker.io"]

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "cache.local:5000/hub"
insecure = true
[[registry.mirror]]
location = "pinned.local/hub"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "quay.io/blocked"
blocked = true

[[registry]]
prefix = "old.example/team"
location = "new.example/moved"

[[registry]]
prefix = "*.corp.example"
insecure = true

[[registry]]
location = "plain.local:5000"
insecure = true

[aliases]
"nginx" = "docker.io/library/nginx"
"#;

    #[test]
    fn entries_match_longest_prefix_then_wildcards() {
        let conf = RegistriesConf::from_text(CONF_TEXT);
        assert_eq!(
            conf.find("docker.io/library/nginx").unwrap().prefix,
            "docker.io"
        );
        assert!(
            conf.find("docker.iox/a").is_none(),
            "a prefix ends at a path segment"
        );
        assert_eq!(
            conf.find("a.corp.example/x").unwrap().prefix,
            "*.corp.example"
        );
        assert!(conf.blocked("quay.io/blocked/app").is_some());
        assert!(conf.blocked("quay.io/other/app").is_none());
        assert!(conf.insecure("plain.local:5000"));
        assert!(conf.insecure("cache.local:5000"), "an insecure mirror");
        assert!(!conf.insecure("docker.io"));
    }

    #[test]
    fn mirrors_come_first_and_honour_pull_from_mirror() {
        let conf = RegistriesConf::from_text(CONF_TEXT);
        assert_eq!(
            conf.pull_sources("docker.io/library/nginx", false),
            vec![
                "cache.local:5000/hub/library/nginx",
                "docker.io/library/nginx"
            ]
        );
        assert_eq!(
            conf.pull_sources("docker.io/library/nginx", true),
            vec![
                "cache.local:5000/hub/library/nginx",
                "pinned.local/hub/library/nginx",
                "docker.io/library/nginx"
            ]
        );
        assert_eq!(
            conf.pull_sources("old.example/team/app", false),
            vec!["new.example/moved/app"]
        );
        assert_eq!(
            conf.pull_sources("elsewhere.io/a/b", false),
            vec!["elsewhere.io/a/b"]
        );
    }

    #[test]
    fn version_1_files_and_malformed_ones() {
        let v1 = RegistriesConf::from_text(
            "[registries.insecure]\nregistries = ['old:5000']\n[registries.block]\nregistries = ['bad.io']\n",
        );
        assert!(v1.insecure("old:5000"));
        assert!(v1.blocked("bad.io/x/y").is_some());

        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("registries.conf");
        std::fs::write(&main, "[[registry]]\nprefix = \"a.io\"\ninsecure = true\n").unwrap();
        let conf = RegistriesConf::load(Some(&main)).unwrap();
        assert!(conf.insecure("a.io"));
        assert!(
            RegistriesConf::load(Some(&dir.path().join("absent.conf")))
                .unwrap()
                .find("a.io/x")
                .is_none()
        );

        std::fs::write(
            &main,
            "[[registry]]\nprefix = \"a.io\"\npull-from-mirror = \"sometimes\"\n",
        )
        .unwrap();
        let e = RegistriesConf::load(Some(&main)).unwrap_err();
        assert!(e.to_string().contains("pull-from-mirror"), "{e}");
        std::fs::write(&main, "[[registry]\n").unwrap();
        assert!(
            RegistriesConf::load(Some(&main))
                .unwrap_err()
                .to_string()
                .starts_with(&main.display().to_string())
        );
    }
}
