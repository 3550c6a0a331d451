//! containers-policy.json(5), the signature policy podman, skopeo and Hangar apply before an
//! image is copied: per scope of the `docker` transport (most specific of `host/ns/repo:tag`,
//! `host/ns/repo`, `host/ns`, `host`, `*.domain`, then the transport's `""`, then `default`),
//! every requirement must accept the image. Requirements: `insecureAcceptAnything`, `reject`,
//! and `sigstoreSigned` with public keys (`keyPath`, `keyPaths`, `keyData`) or keyless
//! (`fulcio`), Rekor keys, and a `signedIdentity`. A requirement hangar cannot evaluate
//! (`signedBy`, GPG) refuses the image and says so: a gate that cannot be evaluated never
//! opens.

use crate::cosign::{Found, Verdict};
use crate::keys;
use crate::verifier::{Authority, Keyless, Matcher, RekorKey, Signers, Verifier};
use base64::Engine as _;
use hangar_image::digest::Digest;
use hangar_image::reference::Reference;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyError {
    pub path: String,
    pub message: String,
}

/// How a signature's `docker-reference` must relate to the image's reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignedIdentity {
    MatchRepoDigestOrExact,
    MatchExact,
    MatchRepository,
    ExactReference(String),
    ExactRepository(String),
    RemapIdentity {
        prefix: String,
        signed_prefix: String,
    },
}

#[derive(Clone, Debug)]
pub enum Requirement {
    InsecureAcceptAnything,
    Reject,
    SigstoreSigned {
        /// The keys or Fulcio roots, and the Rekor keys, a signature must verify with.
        verifier: Verifier,
        identity: SignedIdentity,
    },
    /// Known to containers, not evaluated here: refuses with this reason.
    Unsupported(String),
}

impl Requirement {
    pub fn needs_signatures(&self) -> bool {
        matches!(self, Requirement::SigstoreSigned { .. })
    }
}

/// The policy in effect.
#[derive(Clone, Debug)]
pub struct Policy {
    pub source: PathBuf,
    default: Vec<Requirement>,
    docker: BTreeMap<String, Vec<Requirement>>,
    /// The `oci` transport's scopes (image layout directories).
    oci: BTreeMap<String, Vec<Requirement>>,
}

impl Policy {
    /// The policy file: `explicit`, else `~/.config/containers/policy.json`, else
    /// `/etc/containers/policy.json`; `None` when none exists.
    pub fn load(explicit: Option<&Path>) -> Result<Option<Policy>, PolicyError> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => {
                let user = std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .map(|h| PathBuf::from(h).join(".config/containers/policy.json"));
                match user.filter(|u| u.is_file()) {
                    Some(user) => user,
                    None => PathBuf::from("/etc/containers/policy.json"),
                }
            }
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                return Ok(None);
            }
            Err(e) => {
                return Err(PolicyError {
                    path: path.display().to_string(),
                    message: e.to_string(),
                });
            }
        };
        Policy::parse(&text, &path).map(Some)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let fail = |message: String| PolicyError {
            path: path.display().to_string(),
            message,
        };
        let doc: Value = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let list = |value: &Value, what: &str| -> Result<Vec<Requirement>, PolicyError> {
            let items = value
                .as_array()
                .ok_or_else(|| fail(format!("{what}: expected a list of requirements")))?;
            if items.is_empty() {
                return Err(fail(format!("{what}: an empty list of requirements")));
            }
            items
                .iter()
                .map(|r| requirement(r, base).map_err(|m| fail(format!("{what}: {m}"))))
                .collect()
        };
        let default = list(
            doc.get("default")
                .ok_or_else(|| fail("no \"default\" requirements".into()))?,
            "default",
        )?;
        let transport = |name: &str| -> Result<BTreeMap<String, Vec<Requirement>>, PolicyError> {
            let mut scopes = BTreeMap::new();
            if let Some(listed) = doc["transports"][name].as_object() {
                for (scope, value) in listed {
                    scopes.insert(
                        scope.clone(),
                        list(value, &format!("transports.{name}.{scope:?}"))?,
                    );
                }
            }
            Ok(scopes)
        };
        Ok(Policy {
            source: path.to_path_buf(),
            default,
            docker: transport("docker")?,
            oci: transport("oci")?,
        })
    }

    /// Whether the image `name` (a tag or reference) of the OCI layout at `dir` may be copied.
    /// Scopes as containers/image's `oci` transport resolves them: `DIR:NAME`, `DIR`, each
    /// parent directory, then the transport's `""` and `default`. A layout carries no
    /// signatures hangar reads, so a requirement for them refuses it.
    pub fn judge_layout(&self, dir: &Path, name: &str) -> Result<(), String> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut scopes = vec![format!("{}:{name}", dir.display())];
        scopes.extend(dir.ancestors().map(|a| a.display().to_string()));
        scopes.push(String::new());
        let (scope, requirements) = scopes
            .iter()
            .find_map(|scope| self.oci.get_key_value(scope))
            .map(|(scope, r)| (scope.as_str(), r.as_slice()))
            .unwrap_or(("default", &self.default));
        for requirement in requirements {
            let why = match requirement {
                Requirement::InsecureAcceptAnything => continue,
                Requirement::Reject => "the policy rejects it (reject)".to_string(),
                Requirement::Unsupported(why) => why.clone(),
                Requirement::SigstoreSigned { .. } => {
                    "sigstoreSigned: signatures are not read from an OCI layout; push the image \
                     with its signatures to a registry and copy it from there"
                        .to_string()
                }
            };
            return Err(format!(
                "refused by {} (scope {scope:?}): {why}",
                self.source.display()
            ));
        }
        Ok(())
    }

    /// The requirements for `reference`, from the most specific scope that has some.
    pub fn requirements(&self, reference: &Reference) -> (&str, &[Requirement]) {
        for scope in scopes(reference) {
            if let Some((scope, requirements)) = self.docker.get_key_value(&scope) {
                return (scope, requirements);
            }
        }
        ("default", &self.default)
    }

    /// Whether `reference`, whose top manifest is `digest` and whose signatures of that digest
    /// are `signatures`, may be copied; `Err` says which requirement refused it and why.
    pub fn judge(
        &self,
        reference: &Reference,
        digest: &Digest,
        signatures: &[Found],
    ) -> Result<(), String> {
        let (scope, requirements) = self.requirements(reference);
        for requirement in requirements {
            let why = match requirement {
                Requirement::InsecureAcceptAnything => continue,
                Requirement::Reject => "the policy rejects it (reject)".to_string(),
                Requirement::Unsupported(why) => why.clone(),
                Requirement::SigstoreSigned { verifier, identity } => {
                    let accept = |payload: &Value| {
                        let signed = payload["critical"]["identity"]["docker-reference"]
                            .as_str()
                            .unwrap_or_default();
                        if identity_matches(identity, reference, signed) {
                            Ok(())
                        } else {
                            Err(format!(
                                "signed for {signed:?}, which does not match {reference} ({identity:?})"
                            ))
                        }
                    };
                    match verifier.check(signatures, digest, accept) {
                        Verdict::Valid { .. } => continue,
                        Verdict::Unsigned => format!("sigstoreSigned: no signature of {digest}"),
                        Verdict::Invalid(why) => format!("sigstoreSigned: {why}"),
                    }
                }
            };
            return Err(format!(
                "refused by {} (scope {scope:?}): {why}",
                self.source.display()
            ));
        }
        Ok(())
    }
}

/// The policy a run applies: none with `--insecure-policy`, else the file `explicit` names or
/// the user's or the system's one; with no file at all, none, said once as an info line.
pub fn in_effect(explicit: Option<&Path>, insecure: bool) -> Result<Option<Policy>, PolicyError> {
    if insecure {
        return Ok(None);
    }
    let policy = Policy::load(explicit)?;
    match &policy {
        Some(policy) => tracing::debug!("signature policy {}", policy.source.display()),
        None => tracing::info!(
            "no signature policy (/etc/containers/policy.json is absent): images are accepted as with --insecure-policy"
        ),
    }
    Ok(policy)
}

/// The scopes of `reference` in the order containers/image tries them.
fn scopes(reference: &Reference) -> Vec<String> {
    let name = reference.name();
    let mut scopes = Vec::new();
    if let Some(digest) = reference.digest() {
        scopes.push(format!("{name}@{digest}"));
    }
    if let Some(tag) = reference.tag() {
        scopes.push(format!("{name}:{tag}"));
    }
    let mut prefix = name.as_str();
    loop {
        scopes.push(prefix.to_string());
        match prefix.rfind('/') {
            Some(at) => prefix = &prefix[..at],
            None => break,
        }
    }
    // `*.example.com` for host `a.b.example.com`: `*.b.example.com`, then `*.example.com`, ...
    let host = reference.registry().split(':').next().unwrap_or_default();
    let mut rest = host;
    while let Some((_, tail)) = rest.split_once('.') {
        scopes.push(format!("*.{tail}"));
        rest = tail;
    }
    scopes.push(String::new());
    scopes
}

fn requirement(value: &Value, base: &Path) -> Result<Requirement, String> {
    let kind = value["type"].as_str().unwrap_or_default();
    Ok(match kind {
        "insecureAcceptAnything" => Requirement::InsecureAcceptAnything,
        "reject" => Requirement::Reject,
        "signedBy" => Requirement::Unsupported(
            "signedBy (GPG signatures) is not supported by hangar; use sigstoreSigned".into(),
        ),
        "sigstoreSigned" => {
            let read = |path: &str| -> Result<String, String> {
                let path = base.join(path);
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("keyPath {}: {e}", path.display()))
            };
            let mut texts = Vec::new();
            if let Some(path) = value["keyPath"].as_str() {
                texts.push(read(path)?);
            }
            for path in value["keyPaths"].as_array().into_iter().flatten() {
                texts.push(read(path.as_str().ok_or("keyPaths: expected paths")?)?);
            }
            if let Some(data) = value["keyData"].as_str() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| format!("keyData: {e}"))?;
                texts.push(String::from_utf8(bytes).map_err(|e| format!("keyData: {e}"))?);
            }
            let fulcio = &value["fulcio"];
            if texts.is_empty() && fulcio.is_null() {
                return Err("sigstoreSigned needs keyPath, keyPaths, keyData or fulcio".into());
            }
            if !texts.is_empty() && !fulcio.is_null() {
                return Err("sigstoreSigned takes keys or fulcio, not both".into());
            }
            let keys = texts
                .iter()
                .map(|t| keys::public(t, "sigstoreSigned key").map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let mut rekor = Vec::new();
            if let Some(path) = value["rekorPublicKeyPath"].as_str() {
                rekor.push(read(path)?);
            }
            if let Some(data) = value["rekorPublicKeyData"].as_str() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| format!("rekorPublicKeyData: {e}"))?;
                rekor.push(
                    String::from_utf8(bytes).map_err(|e| format!("rekorPublicKeyData: {e}"))?,
                );
            }
            let rekor_keys = rekor
                .iter()
                .map(|t| keys::public(t, "Rekor public key").map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let signers = if fulcio.is_null() {
                Signers::Keys(keys)
            } else {
                if rekor_keys.is_empty() {
                    return Err("fulcio needs rekorPublicKeyPath or rekorPublicKeyData (the time a certificate is checked at comes from Rekor)".into());
                }
                let field = |name: &str| -> Result<String, String> {
                    fulcio[name]
                        .as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("fulcio: {name} is required"))
                };
                let roots = match (fulcio["caPath"].as_str(), fulcio["caData"].as_str()) {
                    (Some(path), None) => read(path)?,
                    (None, Some(data)) => String::from_utf8(
                        base64::engine::general_purpose::STANDARD
                            .decode(data)
                            .map_err(|e| format!("fulcio.caData: {e}"))?,
                    )
                    .map_err(|e| format!("fulcio.caData: {e}"))?,
                    _ => return Err("fulcio needs one of caPath and caData".into()),
                };
                let roots =
                    crate::fulcio::certificates(&roots).map_err(|e| format!("fulcio CA: {e}"))?;
                Signers::Keyless(Keyless {
                    authorities: roots.into_iter().map(Authority::root).collect(),
                    issuer: Matcher::Exact(field("oidcIssuer")?),
                    subject: Matcher::Exact(field("subjectEmail")?),
                })
            };
            Requirement::SigstoreSigned {
                verifier: Verifier {
                    signers,
                    rekor: rekor_keys.into_iter().map(RekorKey::always).collect(),
                },
                identity: signed_identity(&value["signedIdentity"])?,
            }
        }
        other => return Err(format!("unknown requirement type {other:?}")),
    })
}

fn signed_identity(value: &Value) -> Result<SignedIdentity, String> {
    if value.is_null() {
        return Ok(SignedIdentity::MatchRepoDigestOrExact);
    }
    let field = |name: &str| -> Result<String, String> {
        value[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("signedIdentity: {name} is required"))
    };
    Ok(match value["type"].as_str().unwrap_or_default() {
        "matchRepoDigestOrExact" => SignedIdentity::MatchRepoDigestOrExact,
        "matchExact" => SignedIdentity::MatchExact,
        "matchRepository" => SignedIdentity::MatchRepository,
        "exactReference" => SignedIdentity::ExactReference(field("dockerReference")?),
        "exactRepository" => SignedIdentity::ExactRepository(field("dockerRepository")?),
        "remapIdentity" => SignedIdentity::RemapIdentity {
            prefix: field("prefix")?,
            signed_prefix: field("signedPrefix")?,
        },
        other => return Err(format!("signedIdentity: unknown type {other:?}")),
    })
}

/// containers/image's identity rules (policy_reference_match.go). A signature naming only a
/// repository (as cosign's do) matches `matchRepository` and `exactRepository`, not the
/// default `matchRepoDigestOrExact` for an image pulled by tag.
fn identity_matches(identity: &SignedIdentity, image: &Reference, signed: &str) -> bool {
    let Ok(signature) = Reference::parse(signed) else {
        return false;
    };
    let name_only = |r: &Reference| r.tag().is_none() && r.digest().is_none();
    let exact = |a: &Reference, b: &Reference| {
        !name_only(a) && !name_only(b) && a.to_string() == b.to_string()
    };
    match identity {
        SignedIdentity::MatchRepoDigestOrExact => {
            if name_only(&signature) {
                return false;
            }
            if image.tag().is_some() {
                exact(&signature, image)
            } else {
                signature.name() == image.name()
            }
        }
        SignedIdentity::MatchExact => exact(&signature, image),
        SignedIdentity::MatchRepository => signature.name() == image.name(),
        SignedIdentity::ExactReference(wanted) => {
            Reference::parse(wanted).is_ok_and(|w| exact(&signature, &w))
        }
        SignedIdentity::ExactRepository(wanted) => {
            Reference::parse(wanted).is_ok_and(|w| signature.name() == w.name())
        }
        SignedIdentity::RemapIdentity {
            prefix,
            signed_prefix,
        } => {
            let shown = image.to_string();
            let remapped = match shown.strip_prefix(prefix.as_str()) {
                Some(rest) if rest.is_empty() || rest.starts_with(['/', ':', '@']) => {
                    Reference::parse(&format!("{signed_prefix}{rest}")).ok()
                }
                _ => None,
            };
            let image = remapped.as_ref().unwrap_or(image);
            identity_matches(&SignedIdentity::MatchRepoDigestOrExact, image, signed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn scopes_go_from_the_tag_to_the_domain() {
        assert_eq!(
            scopes(&reference("reg.example.com:5000/team/app:v1")),
            vec![
                "reg.example.com:5000/team/app:v1",
                "reg.example.com:5000/team/app",
                "reg.example.com:5000/team",
                "reg.example.com:5000",
                "*.example.com",
                "*.com",
                "",
            ]
        );
    }

    #[test]
    fn layouts_are_judged_by_the_oci_transport_scopes() {
        let policy = Policy::parse(
            r#"{"default": [{"type": "reject"}],
                "transports": {"oci": {
                    "/build/out": [{"type": "insecureAcceptAnything"}],
                    "/build/out/signed:1": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k"}]
                }}}"#,
            Path::new("/etc/containers/policy.json"),
        )
        .unwrap();
        // A parent directory's scope admits the layouts below it.
        policy
            .judge_layout(Path::new("/build/out/image"), "0.1.0")
            .unwrap();
        // The directory and name scope is more specific.
        let err = policy
            .judge_layout(Path::new("/build/out/signed"), "1")
            .unwrap_err();
        assert!(err.contains("scope \"/build/out/signed:1\""), "{err}");
        // Elsewhere the default decides.
        let err = policy.judge_layout(Path::new("/tmp/x"), "1").unwrap_err();
        assert!(
            err.contains("scope \"default\"") && err.contains("rejects"),
            "{err}"
        );
    }

    #[test]
    fn the_most_specific_scope_decides() {
        let policy = Policy::parse(
            r#"{"default": [{"type": "reject"}],
                "transports": {"docker": {
                    "reg.io/open": [{"type": "insecureAcceptAnything"}],
                    "reg.io/open/closed": [{"type": "reject"}],
                    "*.trusted.io": [{"type": "insecureAcceptAnything"}],
                    "old.io": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k"}]
                }}}"#,
            Path::new("/etc/containers/policy.json"),
        )
        .unwrap();
        let digest: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let judge = |r: &str| policy.judge(&reference(r), &digest, &[]);
        assert!(judge("reg.io/open/app:1").is_ok());
        assert!(judge("a.trusted.io/x/y:1").is_ok());
        let closed = judge("reg.io/open/closed:1").unwrap_err();
        assert!(
            closed.contains("reg.io/open/closed") && closed.contains("reject"),
            "{closed}"
        );
        assert!(
            judge("elsewhere.io/x:1")
                .unwrap_err()
                .contains("\"default\"")
        );
        assert!(
            judge("old.io/x:1")
                .unwrap_err()
                .contains("signedBy (GPG signatures) is not supported")
        );
    }

    #[test]
    fn identities_follow_containers_rules() {
        let tagged = reference("reg.io/team/app:v1");
        let pinned = reference(&format!("reg.io/team/app@sha256:{}", "b".repeat(64)));
        use SignedIdentity::*;
        // cosign signs the repository only.
        assert!(!identity_matches(
            &MatchRepoDigestOrExact,
            &tagged,
            "reg.io/team/app"
        ));
        assert!(identity_matches(
            &MatchRepository,
            &tagged,
            "reg.io/team/app"
        ));
        assert!(identity_matches(
            &MatchRepoDigestOrExact,
            &tagged,
            "reg.io/team/app:v1"
        ));
        assert!(!identity_matches(
            &MatchRepoDigestOrExact,
            &tagged,
            "reg.io/team/app:v2"
        ));
        assert!(identity_matches(
            &MatchRepoDigestOrExact,
            &pinned,
            "reg.io/team/app:v9"
        ));
        assert!(!identity_matches(
            &MatchExact,
            &pinned,
            "reg.io/team/app:v9"
        ));
        assert!(identity_matches(
            &ExactRepository("reg.io/team/app".into()),
            &tagged,
            "reg.io/team/app"
        ));
        assert!(!identity_matches(
            &ExactRepository("reg.io/other".into()),
            &tagged,
            "reg.io/team/app"
        ));
        assert!(identity_matches(
            &ExactReference("reg.io/team/app:v1".into()),
            &pinned,
            "reg.io/team/app:v1"
        ));
        let remap = RemapIdentity {
            prefix: "mirror.local/team".into(),
            signed_prefix: "reg.io/team".into(),
        };
        assert!(identity_matches(
            &remap,
            &reference("mirror.local/team/app:v1"),
            "reg.io/team/app:v1"
        ));
        assert!(!identity_matches(
            &remap,
            &reference("mirror.local/teams/app:v1"),
            "reg.io/team/app:v1"
        ));
    }

    #[test]
    fn malformed_policies_name_the_file_and_the_place() {
        let path = Path::new("/p.json");
        for (text, wanted) in [
            ("{", "/p.json"),
            (r#"{"transports": {}}"#, "no \"default\""),
            (r#"{"default": []}"#, "empty list"),
            (
                r#"{"default": [{"type": "maybe"}]}"#,
                "unknown requirement type",
            ),
            (
                r#"{"default": [{"type": "sigstoreSigned"}]}"#,
                "needs keyPath",
            ),
        ] {
            let e = Policy::parse(text, path).unwrap_err().to_string();
            assert!(e.contains(wanted), "{text}: {e}");
        }
    }

    /// containers/image's key + Rekor fixture through a policy file: admitted with the right
    /// Rekor key, refused without the bundle or with another Rekor key.
    #[test]
    fn a_real_key_and_rekor_signature_passes_sigstore_signed() {
        let Some(fixtures) = crate::fixtures::cosign() else {
            return;
        };
        let dir = fixtures.join("dir-img-cosign-key-rekor-valid");
        let digest = Digest::sha256_of(&std::fs::read(dir.join("manifest.json")).unwrap());
        let found = crate::fixtures::signature("dir-img-cosign-key-rekor-valid", 1);
        let policy = |rekor: &str| {
            Policy::parse(
                &serde_json::json!({
                    "default": [{
                        "type": "sigstoreSigned",
                        "keyPath": fixtures.join("cosign2.pub"),
                        "rekorPublicKeyPath": fixtures.join(rekor),
                        "signedIdentity": {"type": "matchRepository"}
                    }]
                })
                .to_string(),
                Path::new("/policy.json"),
            )
            .unwrap()
        };
        let image = reference("192.168.64.2:5000/cosign-signed/key-1:latest");
        assert_eq!(
            policy("rekor.pub").judge(&image, &digest, std::slice::from_ref(&found)),
            Ok(())
        );
        let without = Found {
            bundle: None,
            ..found.clone()
        };
        assert!(
            policy("rekor.pub")
                .judge(&image, &digest, &[without])
                .unwrap_err()
                .contains("no Rekor bundle")
        );
        assert!(
            policy("cosign.pub")
                .judge(&image, &digest, &[found])
                .unwrap_err()
                .contains("not signed by the given Rekor key")
        );
    }

    /// containers/image's real keyless signature through a `fulcio` policy, verified offline
    /// as its policy_eval_sigstore_test.go does: admitted with the right root, issuer, subject
    /// and Rekor key; each wrong one, and a key-signed signature, refused with the reason.
    #[test]
    fn a_real_keyless_signature_passes_a_fulcio_policy() {
        let Some(fixtures) = crate::fixtures::cosign() else {
            return;
        };
        let dir = fixtures.join("dir-img-cosign-fulcio-rekor-valid");
        let digest = Digest::sha256_of(&std::fs::read(dir.join("manifest.json")).unwrap());
        let found = crate::fixtures::signature("dir-img-cosign-fulcio-rekor-valid", 1);
        let image = reference("192.168.64.2:5000/cosign-signed/fulcio-rekor-1:latest");
        let judge = |ca: &str, issuer: &str, email: &str, rekor: &str, found: &Found| {
            Policy::parse(
                &serde_json::json!({
                    "default": [{
                        "type": "sigstoreSigned",
                        "fulcio": {
                            "caPath": fixtures.join(ca),
                            "oidcIssuer": issuer,
                            "subjectEmail": email
                        },
                        "rekorPublicKeyPath": fixtures.join(rekor),
                        "signedIdentity": {"type": "matchRepository"}
                    }]
                })
                .to_string(),
                Path::new("/policy.json"),
            )
            .unwrap()
            .judge(&image, &digest, std::slice::from_ref(found))
        };
        let (ca, issuer, email) = (
            "fulcio_v1.crt.pem",
            "https://github.com/login/oauth",
            "mitr@redhat.com",
        );
        assert_eq!(judge(ca, issuer, email, "rekor.pub", &found), Ok(()));
        let refused = |result: Result<(), String>, why: &str| {
            let e = result.unwrap_err();
            assert!(e.contains(why), "{e}");
        };
        refused(
            judge(ca, issuer, "someone@example.com", "rekor.pub", &found),
            "not \"someone@example.com\"",
        );
        refused(
            judge(
                ca,
                "https://accounts.google.com",
                email,
                "rekor.pub",
                &found,
            ),
            "issued through",
        );
        refused(
            judge(ca, issuer, email, "cosign.pub", &found),
            "not signed by the given Rekor key",
        );
        refused(
            judge("fulcio-cert", issuer, email, "rekor.pub", &found),
            "does not chain",
        );
        let key_signed = crate::fixtures::signature("dir-img-cosign-key-rekor-valid", 1);
        refused(
            judge(ca, issuer, email, "rekor.pub", &key_signed),
            "not keyless",
        );
    }
}
