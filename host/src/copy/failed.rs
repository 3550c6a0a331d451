//! The failed list (`-o/--failed`): the original lines of images that did not make it, in
//! list order, ready to be fed back as the next run's list. A successful run removes a
//! stale one (Hangar leaves it behind, which fools scripts that test for its existence).

use std::io::Write as _;
use std::path::Path;

pub fn write(path: &Path, lines: &[&str]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        for line in lines {
            writeln!(f, "{line}")?;
        }
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Removes a failed list left by an earlier run; true when there was one.
pub fn clear(path: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
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
