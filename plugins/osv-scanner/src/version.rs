//! Version ordering of the package managers whose databases the scanner reads: dpkg (Debian
//! policy §5.6.12), apk (apk-tools) and rpm (`rpmvercmp`). Advisories give fixed versions in these orders, so
//! matching is only as right as the comparison.

use std::cmp::Ordering;

/// dpkg's order: `[epoch:]upstream[-revision]`, each part compared with `verrevcmp`.
pub fn dpkg(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = dpkg_parts(a);
    let (eb, ub, rb) = dpkg_parts(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

fn dpkg_parts(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if e.bytes().all(|b| b.is_ascii_digit()) && !e.is_empty() => {
            (e.parse().unwrap_or(0), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// dpkg's character weight: digits 0 (handled apart), letters first, `~` before everything
/// (even the end), other characters after letters.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// One token of an apk version.
#[derive(Debug, PartialEq, Eq, Clone)]
enum Token {
    Number(String),
    Letter(u8),
    /// Suffix rank (alpha < beta < pre < rc < none < cvs < svn < git < hg < p) and number.
    Suffix(i32, String),
    Hash(String),
    Revision(String),
}

const SUFFIXES: [(&str, i32); 9] = [
    ("alpha", -4),
    ("beta", -3),
    ("pre", -2),
    ("rc", -1),
    ("cvs", 1),
    ("svn", 2),
    ("git", 3),
    ("hg", 4),
    ("p", 5),
];

fn apk_tokens(v: &str) -> Vec<Token> {
    let s = v.trim().as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        String::from_utf8_lossy(&s[start..*i]).into_owned()
    };
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() {
            tokens.push(Token::Number(digits(&mut i)));
        } else if c == b'.' {
            i += 1;
        } else if c.is_ascii_lowercase() && !tokens.iter().any(|t| matches!(t, Token::Suffix(..))) {
            tokens.push(Token::Letter(c));
            i += 1;
        } else if c == b'_' {
            i += 1;
            let start = i;
            while i < s.len() && s[i].is_ascii_lowercase() {
                i += 1;
            }
            let name = String::from_utf8_lossy(&s[start..i]).into_owned();
            let rank = SUFFIXES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, r)| *r)
                .unwrap_or(0);
            tokens.push(Token::Suffix(rank, digits(&mut i)));
        } else if c == b'~' {
            let start = i + 1;
            i = start;
            while i < s.len() && s[i] != b'-' {
                i += 1;
            }
            tokens.push(Token::Hash(
                String::from_utf8_lossy(&s[start..i]).into_owned(),
            ));
        } else if c == b'-' && s.get(i + 1) == Some(&b'r') {
            i += 2;
            tokens.push(Token::Revision(digits(&mut i)));
        } else {
            i += 1;
        }
    }
    tokens
}

fn numeric(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// apk-tools' order.
pub fn apk(a: &str, b: &str) -> Ordering {
    let (ta, tb) = (apk_tokens(a), apk_tokens(b));
    let mut position = 0;
    loop {
        let (x, y) = (ta.get(position), tb.get(position));
        let order = match (x, y) {
            (None, None) => return Ordering::Equal,
            (Some(Token::Number(x)), Some(Token::Number(y))) => {
                // After the first component, a leading zero makes it a decimal fraction.
                if position > 0 && (x.starts_with('0') || y.starts_with('0')) {
                    x.trim_end_matches('0').cmp(y.trim_end_matches('0'))
                } else {
                    numeric(x, y)
                }
            }
            (Some(Token::Letter(x)), Some(Token::Letter(y))) => x.cmp(y),
            (Some(Token::Suffix(rx, nx)), Some(Token::Suffix(ry, ny))) => {
                rx.cmp(ry).then_with(|| numeric(nx, ny))
            }
            (Some(Token::Hash(x)), Some(Token::Hash(y))) => x.cmp(y),
            (Some(Token::Revision(x)), Some(Token::Revision(y))) => numeric(x, y),
            // Different kinds at the same place: what each means against "nothing more".
            (x, y) => return rank(x).cmp(&rank(y)),
        };
        if order != Ordering::Equal {
            return order;
        }
        position += 1;
    }
}

/// How a token (or the end) orders against another kind at the same position: more
/// version numbers beat a letter, a pre-release suffix loses to the end, a post-release
/// suffix or a revision beats it.
fn rank(t: Option<&Token>) -> i32 {
    match t {
        Some(Token::Suffix(r, _)) if *r < 0 => -1,
        None | Some(Token::Hash(_)) => 0,
        Some(Token::Revision(_)) => 1,
        Some(Token::Suffix(..)) => 2,
        Some(Token::Letter(_)) => 3,
        Some(Token::Number(_)) => 4,
    }
}

/// rpm's order: `[epoch:]version[-release]`, epoch numerically (missing is 0), then version
/// and release with `rpmvercmp`; a release is only compared when both sides have one.
pub fn rpm(a: &str, b: &str) -> Ordering {
    let (ea, va, ra) = rpm_parts(a);
    let (eb, vb, rb) = rpm_parts(b);
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| match (ra, rb) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            _ => Ordering::Equal,
        })
}

fn rpm_parts(v: &str) -> (u64, &str, Option<&str>) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(0), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((version, release)) => (epoch, version, Some(release)),
        None => (epoch, rest, None),
    }
}

/// rpm's `rpmvercmp` (lib/rpmvercmp.c): alternating numeric and alphabetic segments, other
/// characters separate them; `~` sorts before anything (pre-releases), `^` after the base
/// version but before anything else (snapshots).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && separator(a[i]) {
            i += 1;
        }
        while j < b.len() && separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca.is_none() || cb.is_none() {
            break;
        }
        let numeric = a[i].is_ascii_digit();
        let take = |s: &[u8], mut k: usize| {
            while k < s.len()
                && (if numeric {
                    s[k].is_ascii_digit()
                } else {
                    s[k].is_ascii_alphabetic()
                })
            {
                k += 1;
            }
            k
        };
        let (ei, ej) = (take(a, i), take(b, j));
        if ej == j {
            // Different kinds of segment: numeric is newer.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut sa, mut sb) = (&a[i..ei], &b[j..ej]);
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            match sa.len().cmp(&sb.len()) {
                Ordering::Equal => {}
                longer => return longer,
            }
        }
        match sa.cmp(sb) {
            Ordering::Equal => {}
            other => return other,
        }
        i = ei;
        j = ej;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from rpm's own test suite (tests/rpmvercmp.at).
    #[test]
    fn rpmvercmp_cases() {
        use Ordering::{Equal, Greater, Less};
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0", "1.0", Greater),
            ("2.0.1", "2.0.1", Equal),
            ("2.0", "2.0.1", Less),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("8", "xyz.4", Greater),
            ("1b.fc17", "1.fc17", Less),
            ("2a", "2.0", Less),
            ("1.0", "1.fc4", Greater),
            ("3.0.0_fc", "3.0.0.fc", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("1.01", "1.0^git1", Greater),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
        }
        assert_eq!(rpm("1:1.0-1.el9", "2.0-1.el9"), Greater);
        assert_eq!(rpm("3.0.7-27.el9", "3.0.7-28.el9"), Less);
        assert_eq!(rpm("0:3.0.7-27.el9", "3.0.7-27.el9"), Equal);
        assert_eq!(rpm("3.0.7", "3.0.7-27.el9"), Equal);
    }

    #[test]
    fn dpkg_basics() {
        assert_eq!(dpkg("1.0~rc1-1", "1.0-1"), Ordering::Less);
        assert_eq!(dpkg("1:1.0", "2.0"), Ordering::Greater);
        assert_eq!(
            dpkg("1.2.1-2.2+wheezy3", "1.2.1-2.2+wheezy2"),
            Ordering::Greater
        );
        assert_eq!(dpkg("3.0.11-1~deb12u2", "3.0.11-1"), Ordering::Less);
        assert_eq!(dpkg("1.0", "1.0"), Ordering::Equal);
    }

    #[test]
    fn apk_basics() {
        assert_eq!(apk("1.2.3-r0", "1.2.3-r1"), Ordering::Less);
        assert_eq!(apk("1.2.3_rc1-r0", "1.2.3-r0"), Ordering::Less);
        assert_eq!(apk("1.2.3_p1-r0", "1.2.3-r0"), Ordering::Greater);
        assert_eq!(apk("1.2a-r0", "1.2-r0"), Ordering::Greater);
        assert_eq!(apk("1.10-r0", "1.9-r0"), Ordering::Greater);
    }

    /// The ordered version pairs osv-scalibr derived from the real Debian and Alpine advisory
    /// data (shared fixtures; skipped when that folder is absent).
    fn pairs(file: &str, cmp: fn(&str, &str) -> Ordering) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/osv")
            .join(file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!(
                "skipped: {} is absent (the shared fixtures are not on this machine)",
                path.display()
            );
            return;
        };
        let mut wrong = Vec::new();
        let mut checked = 0;
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (a, op, b) = {
                let mut parts = line.split_whitespace();
                (
                    parts.next().unwrap(),
                    parts.next().unwrap(),
                    parts.next().unwrap(),
                )
            };
            let want = match op {
                "<" => Ordering::Less,
                ">" => Ordering::Greater,
                "=" => Ordering::Equal,
                other => panic!("operator {other}"),
            };
            checked += 1;
            if cmp(a, b) != want || cmp(b, a) != want.reverse() {
                wrong.push(line.to_string());
            }
        }
        assert!(checked > 10_000, "{checked}");
        assert!(
            wrong.is_empty(),
            "{} of {checked} wrong, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(10)]
        );
    }

    #[test]
    fn dpkg_order_matches_real_debian_advisory_versions() {
        pairs("debian-versions-generated.txt", dpkg);
    }

    #[test]
    fn apk_order_matches_real_alpine_advisory_versions() {
        pairs("alpine-versions-generated.txt", apk);
    }
}
