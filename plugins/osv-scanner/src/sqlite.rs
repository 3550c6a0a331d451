//! Just enough of the SQLite file format (<https://www.sqlite.org/fileformat2.html>) to read
//! every row of one table: the schema table to find its root page, table b-tree pages
//! (interior and leaf), overflow chains and the record format. Read-only, no SQL, no WAL: the
//! rpm database of an image (`rpmdb.sqlite`) is a closed, checkpointed file.

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

pub struct Database<'a> {
    bytes: &'a [u8],
    page_size: usize,
    /// Page size minus the bytes reserved at the end of each page.
    usable: usize,
}

/// Deeper than any real b-tree; stops a corrupt page loop.
const MAX_DEPTH: usize = 64;

impl<'a> Database<'a> {
    pub fn open(bytes: &'a [u8]) -> Result<Database<'a>, String> {
        if bytes.len() < 100 || !bytes.starts_with(b"SQLite format 3\0") {
            return Err("not an SQLite 3 database".into());
        }
        let page_size = match u16::from_be_bytes([bytes[16], bytes[17]]) {
            1 => 65536,
            n => n as usize,
        };
        if page_size < 512 || !page_size.is_power_of_two() {
            return Err(format!("page size {page_size} is not valid"));
        }
        let usable = page_size - bytes[20] as usize;
        Ok(Database {
            bytes,
            page_size,
            usable,
        })
    }

    /// Every row of `table`, in rowid order (an `INTEGER PRIMARY KEY` column reads as NULL,
    /// as SQLite stores it).
    pub fn rows(&self, table: &str) -> Result<Vec<Vec<Value>>, String> {
        let schema = self.table_rows(1)?;
        // sqlite_schema: type, name, tbl_name, rootpage, sql.
        let root = schema
            .iter()
            .find(|row| {
                row.first() == Some(&Value::Text("table".into()))
                    && row.get(1) == Some(&Value::Text(table.into()))
            })
            .and_then(|row| match row.get(3) {
                Some(Value::Integer(page)) => Some(*page as usize),
                _ => None,
            })
            .ok_or_else(|| format!("no table {table:?}"))?;
        self.table_rows(root)
    }

    fn table_rows(&self, root: usize) -> Result<Vec<Vec<Value>>, String> {
        let mut rows = Vec::new();
        let mut seen = std::collections::HashSet::new();
        self.walk(root, 0, &mut seen, &mut rows)?;
        Ok(rows)
    }

    fn page(&self, number: usize) -> Result<&'a [u8], String> {
        let past = || format!("page {number} is past the end of the file");
        let start = number
            .checked_sub(1)
            .ok_or("page 0")?
            .checked_mul(self.page_size)
            .ok_or_else(past)?;
        let end = start.checked_add(self.page_size).ok_or_else(past)?;
        self.bytes.get(start..end).ok_or_else(past)
    }

    fn walk(
        &self,
        number: usize,
        depth: usize,
        seen: &mut std::collections::HashSet<usize>,
        rows: &mut Vec<Vec<Value>>,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("b-tree too deep (a page loop?)".into());
        }
        // A page is in one b-tree once; a corrupt file could point at it again and again.
        if !seen.insert(number) {
            return Err(format!("page {number} is linked twice (a page loop)"));
        }
        let page = self.page(number)?;
        // Page 1 starts with the 100-byte file header.
        let header = if number == 1 { 100 } else { 0 };
        let kind = *page.get(header).ok_or("short page")?;
        let cells = be16(page, header + 3)? as usize;
        let (pointers, interior) = match kind {
            0x0d => (header + 8, false),
            0x05 => (header + 12, true),
            other => {
                return Err(format!(
                    "page {number}: not a table b-tree page ({other:#x})"
                ));
            }
        };
        for i in 0..cells {
            let offset = be16(page, pointers + 2 * i)? as usize;
            if interior {
                let child = be32(page, offset)? as usize;
                self.walk(child, depth + 1, seen, rows)?;
            } else {
                let (size, n) = varint(page, offset)?;
                let (_rowid, m) = varint(page, offset + n)?;
                let size = usize::try_from(size)
                    .ok()
                    .filter(|s| *s <= self.bytes.len())
                    .ok_or_else(|| format!("page {number}: a cell larger than the file"))?;
                let payload = self.payload(page, offset + n + m, size)?;
                rows.push(record(&payload)?);
            }
        }
        if interior {
            let right = be32(page, header + 8)? as usize;
            self.walk(right, depth + 1, seen, rows)?;
        }
        Ok(())
    }

    /// A table leaf cell's payload: what fits on the page, then the overflow chain.
    fn payload(&self, page: &[u8], start: usize, size: usize) -> Result<Vec<u8>, String> {
        let u = self.usable;
        let max_local = u - 35;
        let local = if size <= max_local {
            size
        } else {
            let min_local = (u - 12) * 32 / 255 - 23;
            let k = min_local + (size - min_local) % (u - 4);
            if k <= max_local { k } else { min_local }
        };
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(
            start
                .checked_add(local)
                .and_then(|end| page.get(start..end))
                .ok_or("cell past the page")?,
        );
        let mut next = if local < size {
            be32(page, start + local)? as usize
        } else {
            0
        };
        let mut hops = 0;
        while out.len() < size {
            if next == 0 || hops > self.bytes.len() / self.page_size {
                return Err("overflow chain ends early".into());
            }
            let overflow = self.page(next)?;
            let take = (size - out.len()).min(u - 4);
            out.extend_from_slice(&overflow[4..4 + take]);
            next = be32(overflow, 0)? as usize;
            hops += 1;
        }
        Ok(out)
    }
}

fn be16(bytes: &[u8], at: usize) -> Result<u16, String> {
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| "short page".into())
}

fn be32(bytes: &[u8], at: usize) -> Result<u32, String> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| "short page".into())
}

/// SQLite's varint: 1-9 bytes, 7 bits each, the ninth byte whole. Returns (value, length).
fn varint(bytes: &[u8], at: usize) -> Result<(u64, usize), String> {
    let mut value: u64 = 0;
    for i in 0..9 {
        let b = *bytes.get(at + i).ok_or("varint past the end")?;
        if i == 8 {
            return Ok(((value << 8) | b as u64, 9));
        }
        value = (value << 7) | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    unreachable!("the ninth byte returns")
}

/// A record: a header of serial types, then the values.
fn record(payload: &[u8]) -> Result<Vec<Value>, String> {
    let (header_size, mut at) = varint(payload, 0)?;
    let header_size = usize::try_from(header_size)
        .ok()
        .filter(|h| *h <= payload.len())
        .ok_or("record header past its end")?;
    let mut types = Vec::new();
    while at < header_size {
        let (t, n) = varint(payload, at)?;
        types.push(t);
        at += n;
    }
    let mut body = header_size;
    let mut values = Vec::with_capacity(types.len());
    for t in types {
        let int = |len: usize| -> Result<i64, String> {
            let b = payload.get(body..body + len).ok_or("record past its end")?;
            // Big-endian two's complement of `len` bytes.
            let mut v = if b[0] & 0x80 != 0 { -1i64 } else { 0 };
            for byte in b {
                v = (v << 8) | *byte as i64;
            }
            Ok(v)
        };
        let (value, len) = match t {
            0 => (Value::Null, 0),
            1..=4 => (Value::Integer(int(t as usize)?), t as usize),
            5 => (Value::Integer(int(6)?), 6),
            6 => (Value::Integer(int(8)?), 8),
            7 => (Value::Real(f64::from_bits(int(8)? as u64)), 8),
            8 => (Value::Integer(0), 0),
            9 => (Value::Integer(1), 0),
            n if n >= 12 => {
                let len = usize::try_from((n - 12) / 2).map_err(|_| "record past its end")?;
                let b = body
                    .checked_add(len)
                    .and_then(|end| payload.get(body..end))
                    .ok_or("record past its end")?;
                if n % 2 == 0 {
                    (Value::Blob(b.to_vec()), len)
                } else {
                    (Value::Text(String::from_utf8_lossy(b).into_owned()), len)
                }
            }
            other => return Err(format!("serial type {other} is reserved")),
        };
        values.push(value);
        body += len;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        assert_eq!(varint(&[0x05], 0).unwrap(), (5, 1));
        assert_eq!(varint(&[0x81, 0x00], 0).unwrap(), (128, 2));
        assert_eq!(varint(&[0xff; 9], 0).unwrap(), (u64::MAX, 9));
    }

    #[test]
    fn records() {
        // Header (4 bytes: size, NULL, 1-byte int, 3-char text), then -2 and "abc".
        let payload = [4, 0, 1, 19, 0xfe, b'a', b'b', b'c'];
        assert_eq!(
            record(&payload).unwrap(),
            [Value::Null, Value::Integer(-2), Value::Text("abc".into())]
        );
    }

    /// A database made by SQLite itself (Python's sqlite3): 2,000 rows over interior and leaf
    /// pages, every tenth row with a blob that spills into an overflow chain.
    fn made_by_sqlite() -> Option<Vec<u8>> {
        let dir = std::env::temp_dir().join(format!("hangar-sqlite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join("made.sqlite");
        let _ = std::fs::remove_file(&path);
        let script = "import sqlite3, sys\n\
            db = sqlite3.connect(sys.argv[1])\n\
            db.execute('PRAGMA page_size=1024')\n\
            db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)')\n\
            db.executemany('INSERT INTO t (name, data) VALUES (?, ?)', \
              [('row-%d' % i, bytes([i % 251]) * (3000 if i % 10 == 0 else 20)) for i in range(2000)])\n\
            db.commit()\n";
        match std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&path)
            .status()
        {
            Ok(status) if status.success() => {}
            _ => {
                eprintln!("skipped: python3 with sqlite3 is not available");
                return None;
            }
        }
        let bytes = std::fs::read(&path).ok();
        let _ = std::fs::remove_dir_all(&dir);
        bytes
    }

    #[test]
    fn reads_what_sqlite_wrote_and_never_panics_on_damage() {
        let Some(bytes) = made_by_sqlite() else {
            return;
        };
        let rows = Database::open(&bytes).unwrap().rows("t").unwrap();
        assert_eq!(rows.len(), 2000);
        for (i, row) in rows.iter().enumerate() {
            let size = if i % 10 == 0 { 3000 } else { 20 };
            assert_eq!(
                row,
                &[
                    Value::Null,
                    Value::Text(format!("row-{i}")),
                    Value::Blob(vec![(i % 251) as u8; size])
                ],
                "row {i}"
            );
        }
        // Damage anywhere (headers, pointers, varints, overflow links) is an error or a
        // different answer, never a panic or a hang.
        let mut damaged = bytes.clone();
        // (About a thousand places spread over every kind of page; each read is the whole
        // table, so all of them would take minutes in a debug build.)
        for at in (100..bytes.len()).step_by((bytes.len() / 1000) | 1) {
            for value in [0x00, 0xff, 0x81] {
                damaged[at] = value;
                if let Ok(db) = Database::open(&damaged) {
                    let _ = db.rows("t");
                }
            }
            damaged[at] = bytes[at];
        }
    }

    #[test]
    fn page_loops_are_named() {
        let Some(mut bytes) = made_by_sqlite() else {
            return;
        };
        // Point every child of the table's root (an interior page) at the root itself.
        let db = Database::open(&bytes).unwrap();
        let schema = db.table_rows(1).unwrap();
        let Some(Value::Integer(root)) = schema[0].get(3).cloned() else {
            panic!("no root page");
        };
        let start = (root as usize - 1) * 1024;
        assert_eq!(bytes[start], 0x05, "the root is an interior page");
        let cells = u16::from_be_bytes([bytes[start + 3], bytes[start + 4]]) as usize;
        for i in 0..cells {
            let at = start + 12 + 2 * i;
            let offset = u16::from_be_bytes([bytes[at], bytes[at + 1]]) as usize;
            bytes[start + offset..start + offset + 4].copy_from_slice(&(root as u32).to_be_bytes());
        }
        let err = Database::open(&bytes).unwrap().rows("t").unwrap_err();
        assert!(err.contains("linked twice"), "{err}");
    }

    #[test]
    fn not_sqlite() {
        assert!(Database::open(b"hello").is_err());
    }
}
