//! Installed packages from an rpm database in SQLite form (`rpmdb.sqlite`: RHEL/UBI/Rocky/
//! Alma 9, Fedora 33+, Amazon Linux 2023, recent SUSE): each row of its `Packages` table is a
//! package header (rpm's tag/type/offset/count index over a data store).

use crate::packages::Package;
use crate::sqlite::{Database, Value};

const NAME: u32 = 1000;
const VERSION: u32 = 1001;
const RELEASE: u32 = 1002;
const EPOCH: u32 = 1003;
const LICENSE: u32 = 1014;
const ARCH: u32 = 1022;
const SOURCERPM: u32 = 1044;

const INT32: u32 = 4;
const STRING: u32 = 6;
const STRING_ARRAY: u32 = 8;
const I18NSTRING: u32 = 9;

/// The packages of an `rpmdb.sqlite`, leaving out the `gpg-pubkey` pseudo-packages rpm
/// records for imported keys. A header that does not parse is skipped and counted.
pub fn sqlite(bytes: &[u8]) -> Result<(Vec<Package>, usize), String> {
    let db = Database::open(bytes)?;
    let mut packages = Vec::new();
    let mut unreadable = 0;
    for row in db.rows("Packages")? {
        let Some(Value::Blob(blob)) = row.get(1) else {
            unreadable += 1;
            continue;
        };
        match header(blob) {
            Ok(Some(p)) => packages.push(p),
            Ok(None) => {}
            Err(_) => unreadable += 1,
        }
    }
    Ok((packages, unreadable))
}

/// One header as rpm stores it in its database (no lead, no magic): index length, data
/// length, the index entries, the data store.
pub fn header(blob: &[u8]) -> Result<Option<Package>, String> {
    let be32 = |at: usize| -> Result<u32, String> {
        at.checked_add(4)
            .and_then(|end| blob.get(at..end))
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| "header shorter than its index".to_string())
    };
    let entries = be32(0)? as usize;
    let data_len = be32(4)? as usize;
    let store_start = entries
        .checked_mul(16)
        .and_then(|n| n.checked_add(8))
        .ok_or("index too long")?;
    let store = store_start
        .checked_add(data_len)
        .and_then(|end| blob.get(store_start..end))
        .ok_or("header shorter than its data")?;
    let mut fields: Vec<(u32, u32, usize, usize)> = Vec::with_capacity(entries);
    for i in 0..entries {
        let at = 8 + i * 16;
        fields.push((
            be32(at)?,
            be32(at + 4)?,
            be32(at + 8)? as usize,
            be32(at + 12)? as usize,
        ));
    }
    let string = |tag: u32| -> Option<String> {
        let &(_, kind, offset, _) = fields.iter().find(|(t, ..)| *t == tag)?;
        if !matches!(kind, STRING | STRING_ARRAY | I18NSTRING) {
            return None;
        }
        let rest = store.get(offset..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    let int = |tag: u32| -> Option<u32> {
        let &(_, kind, offset, count) = fields.iter().find(|(t, ..)| *t == tag)?;
        if kind != INT32 || count == 0 {
            return None;
        }
        offset
            .checked_add(4)
            .and_then(|end| store.get(offset..end))
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(name), Some(version)) = (string(NAME), string(VERSION)) else {
        return Err("no name or version".into());
    };
    if name == "gpg-pubkey" {
        return Ok(None);
    }
    let release = string(RELEASE).unwrap_or_default();
    let mut evr = match int(EPOCH) {
        Some(epoch) => format!("{epoch}:{version}"),
        None => version,
    };
    if !release.is_empty() {
        evr = format!("{evr}-{release}");
    }
    let source = string(SOURCERPM)
        .as_deref()
        .and_then(source_name)
        .unwrap_or(&name)
        .to_string();
    Ok(Some(Package {
        name,
        version: evr,
        source,
        source_version: None,
        architecture: string(ARCH),
        licenses: string(LICENSE)
            .filter(|l| !l.trim().is_empty())
            .into_iter()
            .collect(),
    }))
}

/// `bash-5.1.8-6.el9.src.rpm` → `bash`: the name is everything before the last two `-`.
fn source_name(srpm: &str) -> Option<&str> {
    let stem = srpm
        .strip_suffix(".src.rpm")
        .or_else(|| srpm.strip_suffix(".nosrc.rpm"))?;
    let (rest, _release) = stem.rsplit_once('-')?;
    let (name, _version) = rest.rsplit_once('-')?;
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with the given string and int32 tags, laid out as rpm does.
    fn build(strings: &[(u32, &str)], ints: &[(u32, u32)]) -> Vec<u8> {
        let mut store = Vec::new();
        let mut index = Vec::new();
        for (tag, value) in ints {
            while store.len() % 4 != 0 {
                store.push(0);
            }
            index.push((*tag, INT32, store.len(), 1));
            store.extend_from_slice(&value.to_be_bytes());
        }
        for (tag, value) in strings {
            index.push((*tag, STRING, store.len(), 1));
            store.extend_from_slice(value.as_bytes());
            store.push(0);
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&(index.len() as u32).to_be_bytes());
        blob.extend_from_slice(&(store.len() as u32).to_be_bytes());
        for (tag, kind, offset, count) in index {
            for v in [tag, kind, offset as u32, count] {
                blob.extend_from_slice(&v.to_be_bytes());
            }
        }
        blob.extend_from_slice(&store);
        blob
    }

    #[test]
    fn headers_give_name_epoch_version_release_and_source() {
        let blob = build(
            &[
                (NAME, "openssl-libs"),
                (VERSION, "3.0.7"),
                (RELEASE, "27.el9"),
                (ARCH, "x86_64"),
                (LICENSE, "ASL 2.0"),
                (SOURCERPM, "openssl-3.0.7-27.el9.src.rpm"),
            ],
            &[(EPOCH, 1)],
        );
        let p = header(&blob).unwrap().unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str(), p.source.as_str()),
            ("openssl-libs", "1:3.0.7-27.el9", "openssl")
        );
        assert_eq!(p.architecture.as_deref(), Some("x86_64"));
        assert_eq!(p.licenses, ["ASL 2.0"]);
        let key = build(&[(NAME, "gpg-pubkey"), (VERSION, "fd431d51")], &[]);
        assert_eq!(header(&key).unwrap(), None);
        assert!(header(&blob[..20]).is_err());
    }

    #[test]
    fn source_rpm_names() {
        assert_eq!(source_name("bash-5.1.8-6.el9.src.rpm"), Some("bash"));
        assert_eq!(
            source_name("python-setuptools-53.0.0-12.el9.src.rpm"),
            Some("python-setuptools")
        );
        assert_eq!(source_name("nonsense"), None);
    }
}
