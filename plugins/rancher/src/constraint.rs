//! Rancher version constraints of charts: the `catalog.cattle.io/rancher-version`
//! annotation (Masterminds semver syntax: `>= 2.9.0-0 < 2.10.0-0`, `~2.8`, `2.7.x`, `a - b`,
//! `||`) and questions.yaml's `rancher_min_version`/`rancher_max_version`.

use semver::Version;

/// Whether `version` satisfies `constraint`.
pub fn satisfies(constraint: &str, version: &Version) -> Result<bool, String> {
    if constraint.trim().is_empty() {
        return Err("empty constraint".into());
    }
    for alternative in constraint.split("||") {
        let mut all = true;
        for (op, bound) in comparators(alternative)? {
            if !check(&op, &bound, version)? {
                all = false;
            }
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The constraint questions.yaml's min and max versions stand for.
pub fn from_min_max(min: Option<&str>, max: Option<&str>) -> Option<String> {
    let min = min.map(str::trim).filter(|m| !m.is_empty());
    let max = max.map(str::trim).filter(|m| !m.is_empty());
    match (min, max) {
        (Some(min), Some(max)) => Some(format!(">= {min}, <= {max}")),
        (Some(min), None) => Some(format!(">= {min}")),
        (None, Some(max)) => Some(format!("<= {max}")),
        (None, None) => None,
    }
}

/// `(operator, version)` pairs of one AND-group; `a - b` ranges become `>= a`, `<= b`.
fn comparators(group: &str) -> Result<Vec<(String, String)>, String> {
    let tokens: Vec<&str> = group.split([' ', ',']).filter(|t| !t.is_empty()).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens.get(i + 1) == Some(&"-") && i + 2 < tokens.len() {
            out.push((">=".to_string(), tokens[i].to_string()));
            out.push(("<=".to_string(), tokens[i + 2].to_string()));
            i += 3;
            continue;
        }
        let token = tokens[i];
        let split = token
            .find(|c: char| c.is_ascii_alphanumeric() || c == '*')
            .unwrap_or(token.len());
        let (op, rest) = token.split_at(split);
        if rest.is_empty() {
            // An operator written apart from its version: `>= 2.9.0`.
            let Some(next) = tokens.get(i + 1) else {
                return Err(format!("{op:?} without a version"));
            };
            out.push((op.to_string(), next.to_string()));
            i += 2;
        } else {
            out.push((op.to_string(), rest.to_string()));
            i += 1;
        }
    }
    Ok(out)
}

/// A bound's parts; `None` for a missing or wildcard (`x`, `*`) part.
struct Bound {
    low: Version,
    /// The first version past a wildcard bound (`2.9.x` → `2.10.0-0`), `None` when exact.
    high: Option<Version>,
    major: u64,
    minor: Option<u64>,
}

fn bound(text: &str) -> Result<Bound, String> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let split = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(split);
    let wild = |p: &str| matches!(p, "x" | "X" | "*");
    let parts: Vec<&str> = core.split('.').collect();
    let number = |i: usize| -> Result<Option<u64>, String> {
        match parts.get(i) {
            None => Ok(None),
            Some(p) if wild(p) => Ok(None),
            Some(p) => p
                .parse()
                .map(Some)
                .map_err(|_| format!("{text:?} is not a version")),
        }
    };
    if parts.len() > 3 {
        return Err(format!("{text:?} is not a version"));
    }
    let (major, minor, patch) = (number(0)?, number(1)?, number(2)?);
    let Some(major) = major else {
        // `*`: anything.
        return Ok(Bound {
            low: Version::new(0, 0, 0),
            high: Some(Version::new(u64::MAX, 0, 0)),
            major: 0,
            minor: None,
        });
    };
    let low_text = format!(
        "{major}.{}.{}{rest}",
        minor.unwrap_or(0),
        patch.unwrap_or(0)
    );
    let low = Version::parse(&low_text).map_err(|e| format!("{text:?}: {e}"))?;
    let high = match (minor, patch) {
        (None, _) => Some(floor(major.saturating_add(1), 0, 0)),
        (Some(minor), None) => Some(floor(major, minor.saturating_add(1), 0)),
        _ => None,
    };
    Ok(Bound {
        low,
        high,
        major,
        minor,
    })
}

fn check(op: &str, text: &str, v: &Version) -> Result<bool, String> {
    let b = bound(text)?;
    let cmp = |x: &Version| v.cmp_precedence(x);
    use std::cmp::Ordering::*;
    Ok(match op {
        "" | "=" | "==" => match &b.high {
            Some(high) => cmp(&b.low) != Less && cmp(high) == Less,
            None => cmp(&b.low) == Equal,
        },
        "!=" => match &b.high {
            Some(high) => cmp(&b.low) == Less || cmp(high) != Less,
            None => cmp(&b.low) != Equal,
        },
        ">" => match &b.high {
            Some(high) => cmp(high) != Less,
            None => cmp(&b.low) == Greater,
        },
        ">=" | "=>" => cmp(&b.low) != Less,
        "<" => cmp(&b.low) == Less,
        "<=" | "=<" => match &b.high {
            Some(high) => cmp(high) == Less,
            None => cmp(&b.low) != Greater,
        },
        "~" | "~>" => {
            let high = match b.minor {
                Some(minor) => floor(b.major, minor.saturating_add(1), 0),
                None => floor(b.major.saturating_add(1), 0, 0),
            };
            cmp(&b.low) != Less && cmp(&high) == Less
        }
        "^" => {
            let high = if b.major > 0 || b.minor.is_none() {
                floor(b.major.saturating_add(1), 0, 0)
            } else {
                floor(0, b.minor.unwrap_or(0).saturating_add(1), 0)
            };
            cmp(&b.low) != Less && cmp(&high) == Less
        }
        other => return Err(format!("unknown operator {other:?}")),
    })
}

/// The first version of a release line, pre-releases included: `floor(2, 10, 0)` is
/// `2.10.0-0`, so `< floor(2, 10, 0)` admits every 2.9.x.
fn floor(major: u64, minor: u64, patch: u64) -> Version {
    Version {
        pre: semver::Prerelease::new("0").expect("0 is a valid pre-release"),
        ..Version::new(major, minor, patch)
    }
}
