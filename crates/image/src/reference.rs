//! Image references: `[registry/]repository[:tag][@digest]`, normalised the way Docker does
//! (`nginx` → `docker.io/library/nginx:latest`), plus Hangar's "project" view of a repository
//! (its first path segment), which `--source-project` / `--destination-project` replace.

use super::digest::Digest;
use std::fmt;

pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("empty image reference")]
    Empty,
    #[error(
        "invalid repository name {0:?}: path components must be lowercase letters, digits and separators"
    )]
    Repository(String),
    #[error("invalid tag {0:?}")]
    Tag(String),
    #[error("invalid registry {0:?}: a host name or [IPv6] address, optionally with :port")]
    Registry(String),
    #[error(transparent)]
    Digest(#[from] super::digest::InvalidDigest),
}

/// True when the first path segment of a name is a registry host (Docker's rule).
pub fn looks_like_host(segment: &str) -> bool {
    segment.contains('.') || segment.contains(':') || segment == "localhost"
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

/// A registry host as Docker's grammar allows it: dot-separated components of letters, digits
/// and inner hyphens (underscores too, which some internal DNS names carry), or an IPv6
/// address in brackets, with an optional numeric port.
fn valid_registry(registry: &str) -> bool {
    let (host, port) = match registry.strip_prefix('[') {
        Some(bracketed) => {
            let Some((address, rest)) = bracketed.split_once(']') else {
                return false;
            };
            let address_ok = !address.is_empty()
                && address
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            match (address_ok, rest) {
                (false, _) => return false,
                (true, "") => return true,
                (true, rest) => match rest.strip_prefix(':') {
                    Some(port) => (None, Some(port)),
                    None => return false,
                },
            }
        }
        None => match registry.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        },
    };
    let host_part = |part: &str| {
        let b = part.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|&x| x.is_ascii_alphanumeric() || x == b'-' || x == b'_')
    };
    let host_ok = host.is_none_or(|h| h.split('.').all(host_part));
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

fn normalize_registry(registry: &str) -> String {
    match registry {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB.into(),
        r => r.to_string(),
    }
}

impl Reference {
    /// Parses a reference; a `docker://` transport prefix is accepted and dropped.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let s = input.trim();
        let s = s.strip_prefix("docker://").unwrap_or(s);
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (name_and_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d.parse::<Digest>()?)),
            None => (s, None),
        };
        let last_slash = name_and_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match name_and_tag[last_slash..].find(':') {
            Some(i) => (
                &name_and_tag[..last_slash + i],
                Some(&name_and_tag[last_slash + i + 1..]),
            ),
            None => (name_and_tag, None),
        };
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(ReferenceError::Tag(t.to_string()));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if looks_like_host(first) => {
                (normalize_registry(first), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let reference = Reference::new(&registry, &repository, tag.map(str::to_string), digest)?;
        Ok(reference)
    }

    /// Builds a reference from parts, validating the repository and tag and applying
    /// Docker Hub's `library/` rule.
    pub fn new(
        registry: &str,
        repository: &str,
        tag: Option<String>,
        digest: Option<Digest>,
    ) -> Result<Reference, ReferenceError> {
        let registry = normalize_registry(registry);
        if !valid_registry(&registry) {
            return Err(ReferenceError::Registry(registry));
        }
        if repository.is_empty() || !repository.split('/').all(valid_component) {
            return Err(ReferenceError::Repository(repository.to_string()));
        }
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(ReferenceError::Tag(t.clone()));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host:port requests go to (Docker Hub's API lives on another name).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What goes into `/v2/<repo>/manifests/<here>`: the digest when pinned, else the tag
    /// (`latest` when neither was written).
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// The tag a push should land on: the written tag, `latest` when neither tag nor digest
    /// was written, none for a digest-only reference.
    pub fn push_tag(&self) -> Option<String> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".into()),
        }
    }

    /// Hangar's project: the first path segment of the repository (`library` for `nginx`).
    pub fn project(&self) -> Option<&str> {
        self.repository.split_once('/').map(|(p, _)| p)
    }

    pub fn with_registry(&self, registry: &str) -> Reference {
        // Re-validate through `new` so Docker Hub's `library/` rule applies to the new home too.
        Reference::new(
            registry,
            &self.repository,
            self.tag.clone(),
            self.digest.clone(),
        )
        .unwrap_or_else(|_| Reference {
            registry: normalize_registry(registry),
            ..self.clone()
        })
    }

    pub fn with_repository(&self, repository: &str) -> Result<Reference, ReferenceError> {
        Reference::new(
            &self.registry,
            repository,
            self.tag.clone(),
            self.digest.clone(),
        )
    }

    /// Replaces the project (first path segment); a one-segment repository gains one.
    pub fn with_project(&self, project: &str) -> Result<Reference, ReferenceError> {
        let name = match self.repository.split_once('/') {
            Some((_, rest)) => rest,
            None => &self.repository,
        };
        self.with_repository(&format!("{project}/{name}"))
    }

    pub fn with_tag(&self, tag: Option<String>) -> Reference {
        Reference {
            tag,
            ..self.clone()
        }
    }

    pub fn with_digest(&self, digest: Option<Digest>) -> Reference {
        Reference {
            digest,
            ..self.clone()
        }
    }

    /// The same repository addressed by a digest (for child manifests of an index).
    pub fn at_digest(&self, digest: &Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest.clone()),
            ..self.clone()
        }
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        match (&self.tag, &self.digest) {
            (None, None) => write!(f, ":latest"),
            (t, d) => {
                if let Some(t) = t {
                    write!(f, ":{t}")?;
                }
                if let Some(d) = d {
                    write!(f, "@{d}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn registries_follow_the_host_grammar() {
        for good in [
            "reg.example:5000",
            "localhost",
            "127.0.0.1:5000",
            "[::1]:5000",
            "[fe80::1]",
            "my_host.internal",
            "Registry.Example.COM",
        ] {
            assert!(valid_registry(good), "{good}");
        }
        // A tab or NUL in the host (found by the `reference` fuzz target: it displayed as
        // something that parsed back differently), empty parts, bad ports.
        for bad in [
            "\t\0stdry:\u{fffd}cker.io",
            "a..b",
            ".reg",
            "reg:",
            "reg:50000000",
            "reg:port",
            "[::1",
            "[zz]:5000",
            "reg.example:5000:1",
            "-reg.example",
        ] {
            assert!(!valid_registry(bad), "{bad:?}");
        }
        assert!(matches!(
            Reference::parse("docker://\t\0\0\0stdry:\u{a4}cker.io/y/ngin:5"),
            Err(ReferenceError::Registry(_))
        ));
    }

    #[test]
    fn parse_table() {
        let a = d('a');
        type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
        let cases: Vec<Case> = vec![
            ("nginx", "docker.io", "library/nginx", None, None),
            (
                "nginx:1.22",
                "docker.io",
                "library/nginx",
                Some("1.22"),
                None,
            ),
            ("library/nginx", "docker.io", "library/nginx", None, None),
            (
                "docker.io/nginx:1.22",
                "docker.io",
                "library/nginx",
                Some("1.22"),
                None,
            ),
            (
                "index.docker.io/rancher/rancher:v2.8.0",
                "docker.io",
                "rancher/rancher",
                Some("v2.8.0"),
                None,
            ),
            (
                "rancher/rancher",
                "docker.io",
                "rancher/rancher",
                None,
                None,
            ),
            (
                "127.0.0.1:5000/foo/bar/abc:latest",
                "127.0.0.1:5000",
                "foo/bar/abc",
                Some("latest"),
                None,
            ),
            ("localhost/foo", "localhost", "foo", None, None),
            (
                "localhost:5000/nginx",
                "localhost:5000",
                "nginx",
                None,
                None,
            ),
            (
                "reg.io/a/b/c/img:v1",
                "reg.io",
                "a/b/c/img",
                Some("v1"),
                None,
            ),
            ("quay.io/coreos/etcd@", "", "", None, None),
        ];
        for (input, reg, repo, tag, dig) in cases {
            let got = Reference::parse(input);
            if reg.is_empty() {
                assert!(got.is_err(), "{input} should fail");
                continue;
            }
            let got = got.unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.registry(), reg, "{input}");
            assert_eq!(got.repository(), repo, "{input}");
            assert_eq!(got.tag(), tag, "{input}");
            assert_eq!(got.digest().map(|x| x.as_str()), dig, "{input}");
        }
        let r = Reference::parse(&format!("busybox@{a}")).unwrap();
        assert_eq!(r.digest().unwrap().as_str(), a);
        assert_eq!(r.tag(), None);
        assert_eq!(r.manifest_reference(), a);
        assert_eq!(r.push_tag(), None);
        let r = Reference::parse(&format!("reg.io:5000/a/b:v1@{a}")).unwrap();
        assert_eq!(
            (r.tag(), r.digest().unwrap().as_str()),
            (Some("v1"), a.as_str())
        );
        assert_eq!(r.manifest_reference(), a);
        assert_eq!(r.to_string(), format!("reg.io:5000/a/b:v1@{a}"));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "UPPER/case",
            "a//b",
            "nginx:bad tag",
            "nginx:-x",
            "-nginx",
            "nginx@sha256:zz",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn display_and_hosts() {
        let r = Reference::parse("nginx").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/nginx:latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.push_tag().as_deref(), Some("latest"));
        let r = Reference::parse("docker://127.0.0.1:5000/x/y:1").unwrap();
        assert_eq!(r.api_host(), "127.0.0.1:5000");
    }

    #[test]
    fn projects() {
        let r = Reference::parse("reg.io/a/b/c/img:v1").unwrap();
        assert_eq!(r.project(), Some("a"));
        assert_eq!(r.with_project("p").unwrap().repository(), "p/b/c/img");
        let r = Reference::parse("localhost:5000/nginx").unwrap();
        assert_eq!(r.project(), None);
        assert_eq!(r.with_project("p").unwrap().repository(), "p/nginx");
        let moved = Reference::parse("reg.io/nginx")
            .unwrap()
            .with_registry("docker.io");
        assert_eq!(moved.repository(), "library/nginx");
    }
}
