//! A list generator for the host's tests: every non-empty line of the files named by the
//! `file` options is an image (`# os=windows` after it sets the OS); `dir` options list a
//! directory's `.txt` files. `file=/etc/passwd` shows the host refusing paths it was not given.

use hangar_plugin_sdk::files;
use hangar_plugin_sdk::list_generator::{Guest, ImageEntry, Info};

struct Lister;

fn entries_of(path: &str) -> Result<Vec<ImageEntry>, String> {
    let text = String::from_utf8(files::read(path)?).map_err(|e| format!("{path}: {e}"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (reference, os) = match line.split_once("# os=") {
                Some((r, os)) => (r.trim().to_string(), Some(os.trim().to_string())),
                None => (line.to_string(), None),
            };
            ImageEntry {
                reference,
                os,
                source: path.to_string(),
            }
        })
        .collect())
}

impl Guest for Lister {
    fn describe() -> Info {
        Info {
            name: "lister".into(),
            version: "0.1.0".into(),
            hosts: Vec::new(),
        }
    }

    fn generate(options: Vec<(String, String)>) -> Result<Vec<ImageEntry>, String> {
        let mut all = Vec::new();
        for (key, value) in options {
            match key.as_str() {
                "file" => all.extend(entries_of(&value)?),
                "dir" => {
                    for name in files::list(&value)? {
                        if name.ends_with(".txt") {
                            all.extend(entries_of(&format!("{value}/{name}"))?);
                        }
                    }
                }
                other => return Err(format!("unknown option {other:?} (file=PATH, dir=PATH)")),
            }
        }
        Ok(all)
    }
}

hangar_plugin_sdk::export_list_generator!(Lister);
