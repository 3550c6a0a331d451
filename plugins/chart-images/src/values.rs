//! Image references in a chart's values, in the shapes charts really write them:
//!
//! - a map with `repository` and `tag` (or `digest`), optionally `registry`:
//!   `{registry: quay.io, repository: org/app, tag: v1}` → `quay.io/org/app:v1`;
//! - a map with `repository` and only image-ish siblings (`pullPolicy`...) and no tag, or an
//!   empty tag: `latest`;
//! - a string under an `image` key: `image: "org/app:v1"`;
//! - numeric tags keep their text (`tag: 1.10` is `1.10`, not `1.1`);
//! - an `os:` key next to the image (`windows`, `linux`, `linux,windows`) says which list
//!   it belongs in.
//!
//! Templates (`{{ ... }}`), URLs and other strings that are not image references are left out.

use yaml_rust2::Yaml;

/// One image found in a values file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub reference: String,
    /// The `os:` written next to it, if any.
    pub os: Option<String>,
}

/// The images in a values file's text; an error when it is not YAML.
pub fn images(text: &str) -> Result<Vec<Found>, String> {
    let docs = crate::yaml::load(text)?;
    let mut found = Vec::new();
    for doc in &docs {
        walk(doc, &mut found);
    }
    Ok(found)
}

/// Keys that only appear next to an image `repository`, so a map holding one of them and a
/// `repository` but no `tag` is still an image (whose tag defaults to `latest`).
const IMAGE_SIBLINGS: [&str; 5] = ["tag", "digest", "registry", "pullPolicy", "imagePullPolicy"];

fn walk(node: &Yaml, found: &mut Vec<Found>) {
    match node {
        Yaml::Hash(map) => {
            let get = |key: &str| map.get(&Yaml::String(key.into()));
            let os = get("os").and_then(scalar).filter(|s| !s.is_empty());
            if let Some(repository) = get("repository").and_then(scalar)
                && IMAGE_SIBLINGS.iter().any(|k| get(k).is_some())
                && let Some(reference) = compose(
                    get("registry").and_then(scalar).as_deref(),
                    &repository,
                    get("tag").and_then(scalar).as_deref(),
                    get("digest").and_then(scalar).as_deref(),
                )
            {
                found.push(Found {
                    reference,
                    os: os.clone(),
                });
            }
            for (key, value) in map {
                if key.as_str() == Some("image")
                    && let Some(text) = value.as_str()
                    && let Some(reference) = compose(None, text, None, None)
                {
                    found.push(Found {
                        reference,
                        os: os.clone(),
                    });
                }
                walk(value, found);
            }
        }
        Yaml::Array(items) => {
            for item in items {
                walk(item, found);
            }
        }
        _ => {}
    }
}

/// A scalar as the text the chart author wrote (numbers included).
fn scalar(node: &Yaml) -> Option<String> {
    match node {
        Yaml::String(s) => Some(s.trim().to_string()),
        Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Null => Some(String::new()),
        _ => None,
    }
}

/// `registry/repository:tag@digest`, or `None` when the parts do not make an image reference.
fn compose(
    registry: Option<&str>,
    repository: &str,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Option<String> {
    let repository = repository.trim().trim_start_matches('/');
    if !plausible(repository) {
        return None;
    }
    let mut reference = match registry.map(str::trim).filter(|r| !r.is_empty()) {
        Some(registry) if plausible(registry) => {
            format!("{}/{repository}", registry.trim_end_matches('/'))
        }
        Some(_) => return None,
        None => repository.to_string(),
    };
    let digest = digest.map(str::trim).filter(|d| !d.is_empty()).map(|d| {
        if d.contains(':') {
            d.to_string()
        } else {
            format!("sha256:{d}")
        }
    });
    // The repository may already carry its tag or digest (`image: "org/app:v1"`).
    let last = reference.rsplit('/').next().unwrap_or_default();
    let tagged = last.contains(':') || reference.contains('@');
    match tag.map(str::trim).filter(|t| !t.is_empty()) {
        Some(tag) if !tagged => {
            if !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return None;
            }
            reference = format!("{reference}:{tag}");
        }
        Some(_) => {}
        None if !tagged && digest.is_none() => reference.push_str(":latest"),
        None => {}
    }
    if let Some(digest) = digest
        && !reference.contains('@')
    {
        reference = format!("{reference}@{digest}");
    }
    Some(reference)
}

/// Could this be (part of) an image reference: reference characters only, no templates or
/// URLs, and a lower-case path (a tag may have upper case; a registry port is not a tag).
fn plausible(text: &str) -> bool {
    if text.is_empty() || text.contains("{{") || text.contains("://") {
        return false;
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
    {
        return false;
    }
    let name = text.split('@').next().unwrap_or_default();
    let path = match name.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => path,
        _ => name,
    };
    !path.is_empty() && !path.chars().any(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(yaml: &str) -> Vec<(String, Option<String>)> {
        images(yaml)
            .unwrap()
            .into_iter()
            .map(|f| (f.reference, f.os))
            .collect()
    }

    #[test]
    fn the_shapes_charts_use() {
        let found = refs(
            "\u{feff}image:\n  repository: rancher/app\n  tag: v1.2.3\n\
             sidecar:\n  image:\n    registry: quay.io\n    repository: org/side\n    tag: 1.10\n\
             numeric:\n  repository: rancher/num\n  tag: 5\n\
             pinned:\n  repository: rancher/pin\n  tag: v1\n  digest: sha256:0123\n\
             bydigest:\n  repository: rancher/dig\n  digest: sha256:4567\n\
             empty:\n  repository: rancher/empty\n  tag: \"\"\n\
             notag:\n  repository: rancher/notag\n  pullPolicy: IfNotPresent\n\
             plain:\n  image: busybox:1.36\n\
             windows:\n  repository: rancher/win\n  tag: v1\n  os: windows\n\
             list:\n- repository: rancher/in-list\n  tag: v2\n",
        );
        assert_eq!(
            found,
            [
                ("rancher/app:v1.2.3".to_string(), None),
                ("quay.io/org/side:1.10".to_string(), None),
                ("rancher/num:5".to_string(), None),
                ("rancher/pin:v1@sha256:0123".to_string(), None),
                ("rancher/dig@sha256:4567".to_string(), None),
                ("rancher/empty:latest".to_string(), None),
                ("rancher/notag:latest".to_string(), None),
                ("busybox:1.36".to_string(), None),
                ("rancher/win:v1".to_string(), Some("windows".to_string())),
                ("rancher/in-list:v2".to_string(), None),
            ]
        );
    }

    #[test]
    fn what_is_not_an_image() {
        let found = refs(
            "git:\n  repository: https://github.com/rancher/charts\n  branch: main\n\
             templated:\n  repository: \"{{ .Values.registry }}/app\"\n  tag: v1\n\
             chart:\n  repository: stable\n\
             sentence:\n  image: Use the default image\n\
             upper:\n  repository: Rancher/App\n  tag: v1\n",
        );
        assert!(found.is_empty(), "{found:?}");
        assert!(images("a: [b").is_err());
    }
}
