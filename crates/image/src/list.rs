//! Hangar's image-list formats.
//!
//! - Default: one reference per line (`nginx`, `reg:5000/a/b:tag`, `name@sha256:…`,
//!   `name:tag@sha256:…`).
//! - Mirror: `SOURCE DEST TAG`, three fields separated by spaces (tabs are not separators, as in
//!   Hangar). The tag column may also be a digest. Only `mirror` accepts this form.
//!
//! Lines are trimmed; blank lines and lines starting with `#` or `//` are skipped. Anything else
//! that does not parse becomes a warning naming the line number, and the rest of the list is used.

use super::digest::Digest;
use super::reference::{Reference, looks_like_host};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Default(Reference),
    Mirror {
        source: Reference,
        destination: Reference,
        /// Column 2 named a registry host; Hangar ignores it, we honour it.
        destination_registry_explicit: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub line_no: usize,
    /// The line as written (trimmed): what goes back into the failed list.
    pub text: String,
    pub line: Line,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub line_no: usize,
    pub text: String,
    pub reason: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "image list line {}: {:?}: {}",
            self.line_no, self.text, self.reason
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageList {
    pub entries: Vec<Entry>,
    pub warnings: Vec<Warning>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Formats {
    DefaultOnly,
    DefaultAndMirror,
}

pub fn parse(text: &str, formats: Formats) -> ImageList {
    let mut list = ImageList::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let line_no = i + 1;
        let fields: Vec<&str> = line.split(' ').filter(|f| !f.is_empty()).collect();
        let parsed = match fields.len() {
            3 if formats == Formats::DefaultAndMirror => parse_mirror(&fields),
            3 => Err("mirror-format lines (SOURCE DEST TAG) are only accepted by `mirror`".into()),
            1 => Reference::parse(line)
                .map(Line::Default)
                .map_err(|e| e.to_string()),
            _ => Err("invalid format".into()),
        };
        match parsed {
            Ok(line_kind) => list.entries.push(Entry {
                line_no,
                text: line.to_string(),
                line: line_kind,
            }),
            Err(reason) => list.warnings.push(Warning {
                line_no,
                text: line.to_string(),
                reason,
            }),
        }
    }
    list
}

fn parse_mirror(fields: &[&str]) -> Result<Line, String> {
    let (src, dst, tag) = (fields[0], fields[1], fields[2]);
    let (tag, digest) = match tag.parse::<Digest>() {
        Ok(d) => (None, Some(d)),
        Err(_) if tag.contains(':') => return Err(format!("invalid tag or digest {tag:?}")),
        Err(_) => (Some(tag.to_string()), None),
    };
    // The tag column wins over any tag written in the name columns, as in Hangar.
    let source = Reference::parse(src).map_err(|e| format!("source: {e}"))?;
    let source = source.with_tag(tag.clone()).with_digest(digest.clone());
    let destination = Reference::parse(dst).map_err(|e| format!("destination: {e}"))?;
    let destination = destination.with_tag(tag).with_digest(digest);
    let destination_registry_explicit = dst
        .split_once('/')
        .is_some_and(|(first, _)| looks_like_host(first));
    Ok(Line::Mirror {
        source,
        destination,
        destination_registry_explicit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIG: &str = "sha256:4b0bd2e5b5d3b1b8d9d7b8a4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4";

    #[test]
    fn default_format_table() {
        let text = format!(
            "# comment\n// other comment\n\n  nginx  \nrancher/rancher:v2.8.0\n\
             127.0.0.1:5000/foo/bar/abc:latest\nbusybox@{DIG}\nbusybox:1.36@{DIG}\n\
             reg.io/a/b/c/img:v1\nTEST INVALID IMAGE LIST LINE\nUPPER:case\n"
        );
        let list = parse(&text, Formats::DefaultOnly);
        let got: Vec<(usize, String)> = list
            .entries
            .iter()
            .map(|e| match &e.line {
                Line::Default(r) => (e.line_no, r.to_string()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (4, "docker.io/library/nginx:latest".to_string()),
                (5, "docker.io/rancher/rancher:v2.8.0".into()),
                (6, "127.0.0.1:5000/foo/bar/abc:latest".into()),
                (7, format!("docker.io/library/busybox@{DIG}")),
                (8, format!("docker.io/library/busybox:1.36@{DIG}")),
                (9, "reg.io/a/b/c/img:v1".into()),
            ]
        );
        assert_eq!(list.entries[0].text, "nginx");
        let warned: Vec<usize> = list.warnings.iter().map(|w| w.line_no).collect();
        assert_eq!(warned, vec![10, 11]);
        assert!(
            list.warnings[0]
                .to_string()
                .starts_with("image list line 10: \"TEST INVALID IMAGE LIST LINE\"")
        );
    }

    #[test]
    fn mirror_format_table() {
        let text = format!(
            "docker.io/rancher/rancher  my.reg:5000/mirror/rancher v2.8.0\n\
             nginx library/nginx-copy 1.25\n\
             busybox:ignored copy/busybox {DIG}\n\
             a\tb\tc\n\
             a b bad:tag\n"
        );
        let list = parse(&text, Formats::DefaultAndMirror);
        assert_eq!(list.entries.len(), 3);
        match &list.entries[0].line {
            Line::Mirror {
                source,
                destination,
                destination_registry_explicit,
            } => {
                assert_eq!(source.to_string(), "docker.io/rancher/rancher:v2.8.0");
                assert_eq!(destination.to_string(), "my.reg:5000/mirror/rancher:v2.8.0");
                assert!(destination_registry_explicit);
            }
            other => panic!("{other:?}"),
        }
        match &list.entries[1].line {
            Line::Mirror {
                destination,
                destination_registry_explicit,
                ..
            } => {
                assert_eq!(destination.to_string(), "docker.io/library/nginx-copy:1.25");
                assert!(!destination_registry_explicit);
            }
            other => panic!("{other:?}"),
        }
        match &list.entries[2].line {
            Line::Mirror { source, .. } => {
                assert_eq!(source.tag(), None);
                assert_eq!(source.digest().unwrap().as_str(), DIG);
            }
            other => panic!("{other:?}"),
        }
        // A tab-separated line is one field with whitespace: invalid, as in Hangar.
        assert_eq!(
            list.warnings.iter().map(|w| w.line_no).collect::<Vec<_>>(),
            vec![4, 5]
        );
        let only_default = parse(&text, Formats::DefaultOnly);
        assert!(only_default.entries.is_empty());
        assert!(
            only_default.warnings[0]
                .reason
                .contains("only accepted by `mirror`")
        );
    }
}

/// One default-format list line in mirror format (`SOURCE DEST TAG`, for `convert-list`);
/// `None` for comments and blank lines, `Err` for lines it cannot use.
pub fn to_mirror_line(
    line: &str,
    source: Option<&str>,
    destination: Option<&str>,
) -> Option<Result<String, String>> {
    let l = line.trim();
    if l.is_empty() || l.starts_with('#') || l.starts_with("//") {
        return None;
    }
    if l.split(' ').filter(|f| !f.is_empty()).count() == 3 {
        return Some(Err("already in mirror format".into()));
    }
    let r = match crate::reference::Reference::parse(l) {
        Ok(r) => r,
        Err(e) => return Some(Err(e.to_string())),
    };
    let src = match source.filter(|s| !s.is_empty()) {
        Some(reg) => r.with_registry(reg),
        None => r.clone(),
    };
    let dst = r.with_registry(
        destination
            .filter(|s| !s.is_empty())
            .unwrap_or(crate::reference::DOCKER_HUB),
    );
    let tag = match (r.tag(), r.digest()) {
        (Some(t), _) => t.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "latest".into(),
    };
    Some(Ok(format!("{} {} {tag}", src.name(), dst.name())))
}

#[cfg(test)]
mod mirror_lines {
    use super::to_mirror_line;

    #[test]
    fn conversion_table() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        let with_digest = format!("quay.io/a/b@{d}");
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<Result<String, ()>>,
        );
        let cases: Vec<Case> = vec![
            (
                "nginx:1.25",
                None,
                Some("reg:5000"),
                Some(Ok(
                    "docker.io/library/nginx reg:5000/library/nginx 1.25".into()
                )),
            ),
            (
                "127.0.0.1:5000/a/b",
                None,
                None,
                Some(Ok("127.0.0.1:5000/a/b docker.io/a/b latest".into())),
            ),
            (
                "rancher/x:v1",
                Some("mirror.io"),
                Some("reg"),
                Some(Ok("mirror.io/rancher/x reg/rancher/x v1".into())),
            ),
            (
                &with_digest,
                None,
                Some("r.io"),
                Some(Ok(format!("quay.io/a/b r.io/a/b {d}"))),
            ),
            ("# comment", None, None, None),
            ("   ", None, None, None),
            ("a b c", None, None, Some(Err(()))),
            ("BAD", None, None, Some(Err(()))),
        ];
        for (line, s, dst, want) in cases {
            let got = to_mirror_line(line, s, dst).map(|r| r.map_err(|_| ()));
            assert_eq!(got, want, "{line}");
        }
    }
}
