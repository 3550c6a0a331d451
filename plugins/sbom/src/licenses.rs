//! Package databases record licenses in their own words ("ASL 2.0", "GPLv2+", "MIT"). SPDX
//! accepts only license-list ids in an expression; anything else must be a `LicenseRef-`
//! with its text declared in the document. This module tells the two apart with the ids
//! distribution packages commonly use: an expression made only of them (and AND/OR/WITH,
//! parentheses) is kept, anything else becomes a LicenseRef carrying the original words.

/// SPDX license-list ids found in distribution package metadata.
const KNOWN: &[&str] = &[
    "0BSD",
    "AFL-2.1",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.1",
    "Apache-2.0",
    "Artistic-1.0",
    "Artistic-1.0-Perl",
    "Artistic-2.0",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-4-Clause",
    "BSL-1.0",
    "bzip2-1.0.6",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDDL-1.0",
    "curl",
    "EPL-1.0",
    "EPL-2.0",
    "FSFAP",
    "FSFUL",
    "FTL",
    "GFDL-1.2-only",
    "GFDL-1.2-or-later",
    "GFDL-1.3-only",
    "GFDL-1.3-or-later",
    "GPL-1.0-only",
    "GPL-1.0-or-later",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "HPND",
    "ICU",
    "IJG",
    "ISC",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "Libpng",
    "libtiff",
    "MIT",
    "MIT-0",
    "MPL-1.1",
    "MPL-2.0",
    "NCSA",
    "OFL-1.1",
    "OpenSSL",
    "PHP-3.01",
    "PostgreSQL",
    "PSF-2.0",
    "Python-2.0",
    "Ruby",
    "Sleepycat",
    "TCL",
    "Unicode-DFS-2016",
    "Unlicense",
    "Vim",
    "W3C",
    "WTFPL",
    "X11",
    "XFree86-1.1",
    "Zlib",
    "ZPL-2.1",
];

/// SPDX exception ids (after WITH).
const EXCEPTIONS: &[&str] = &[
    "Autoconf-exception-3.0",
    "Bison-exception-2.2",
    "Classpath-exception-2.0",
    "GCC-exception-3.1",
    "LLVM-exception",
    "OpenSSL-exception",
];

/// How one declared license string goes into SPDX.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spdx {
    /// A valid SPDX expression, used as is.
    Expression(String),
    /// Not one: the `LicenseRef-...` id to use, and the original words for the document's
    /// extracted licensing info.
    Reference { id: String, text: String },
}

pub fn classify(declared: &str) -> Spdx {
    let declared = declared.trim();
    if is_expression(declared) {
        return Spdx::Expression(declared.to_string());
    }
    // `+` means "or later": it must not vanish, or GPLv2 and GPLv2+ would share an id.
    let id: String = declared
        .replace('+', "-plus")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    Spdx::Reference {
        id: format!("LicenseRef-{}", id.trim_matches('-')),
        text: declared.to_string(),
    }
}

fn is_expression(text: &str) -> bool {
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let mut expect_id = true;
    let mut after_with = false;
    let mut depth = 0i32;
    for token in spaced.split_whitespace() {
        match token {
            "(" if expect_id => depth += 1,
            ")" if !expect_id => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            "AND" | "OR" if !expect_id => expect_id = true,
            "WITH" if !expect_id => {
                expect_id = true;
                after_with = true;
            }
            id if expect_id => {
                let known = if after_with {
                    EXCEPTIONS.contains(&id)
                } else {
                    KNOWN.contains(&id.trim_end_matches('+'))
                };
                if !known {
                    return false;
                }
                expect_id = false;
                after_with = false;
            }
            _ => return false,
        }
    }
    !expect_id && depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spdx_expressions_pass_other_words_become_references() {
        for ok in [
            "MIT",
            "MIT AND Apache-2.0",
            "(GPL-2.0-or-later OR MIT) AND Zlib",
            "GPL-2.0-only WITH Classpath-exception-2.0",
        ] {
            assert_eq!(classify(ok), Spdx::Expression(ok.into()), "{ok}");
        }
        assert_eq!(
            classify("ASL 2.0"),
            Spdx::Reference {
                id: "LicenseRef-ASL-2.0".into(),
                text: "ASL 2.0".into()
            }
        );
        assert_ne!(classify("GPLv2"), classify("GPLv2+"));
        assert_eq!(
            classify("GPLv2+"),
            Spdx::Reference {
                id: "LicenseRef-GPLv2-plus".into(),
                text: "GPLv2+".into()
            }
        );
        for bad in [
            "GPLv2+",
            "MIT AND",
            "(MIT",
            "MIT OR OR BSD",
            "Public Domain",
        ] {
            assert!(matches!(classify(bad), Spdx::Reference { .. }), "{bad}");
        }
    }
}
