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
        self.walk(root, 0, &mut rows)?;
        Ok(rows)
    }

    fn page(&self, number: usize) -> Result<&'a [u8], String> {
        let start = number
            .checked_sub(1)
            .map(|n| n * self.page_size)
            .ok_or("page 0")?;
        self.bytes
            .get(start..start + self.page_size)
            .ok_or_else(|| format!("page {number} is past the end of the file"))
    }

    fn walk(&self, number: usize, depth: usize, rows: &mut Vec<Vec<Value>>) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("b-tree too deep (a page loop?)".into());
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
                self.walk(child, depth + 1, rows)?;
            } else {
                let (size, n) = varint(page, offset)?;
                let (_rowid, m) = varint(page, offset + n)?;
                let payload = self.payload(page, offset + n + m, size as usize)?;
                rows.push(record(&payload)?);
            }
        }
        if interior {
            let right = be32(page, header + 8)? as usize;
            self.walk(right, depth + 1, rows)?;
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
        out.extend_from_slice(page.get(start..start + local).ok_or("cell past the page")?);
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
    let header_size = header_size as usize;
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
                let len = ((n - 12) / 2) as usize;
                let b = payload.get(body..body + len).ok_or("record past its end")?;
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

    #[test]
    fn not_sqlite() {
        assert!(Database::open(b"hello").is_err());
    }
}
