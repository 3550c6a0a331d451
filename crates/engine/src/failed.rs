//! The failed list (`-o/--failed`): the original lines of images that did not make it, in
//! list order, ready to be fed back as the next run's list. A successful run removes a
//! stale one (Hangar leaves it behind, which fools scripts that test for its existence).
//! Written and removed through `outfile`: `-o /dev/null` stays a device, links stay links.

use hangar_outfile as outfile;
use std::path::Path;

pub fn write(path: &Path, lines: &[&str]) -> std::io::Result<()> {
    let mut body = String::new();
    for line in lines {
        body.push_str(line);
        body.push('\n');
    }
    outfile::write(path, body.as_bytes())
}

/// Removes a failed list left by an earlier run (only a regular file); true when there was one.
pub fn clear(path: &Path) -> std::io::Result<bool> {
    outfile::remove_stale(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn write_then_clear() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mirror-failed.txt");
        super::write(&p, &["b:1", "a:2"]).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "b:1\na:2\n");
        assert!(super::clear(&p).unwrap());
        assert!(!super::clear(&p).unwrap());
    }
}
