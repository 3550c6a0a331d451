//! The zip records hangar writes itself: Stored entries followed by a data descriptor (as Go's
//! `archive/zip`, and so Hangar, writes them), zip64 fields when an entry, an offset or the
//! entry count needs them, and the central directory read back as raw records.
//!
//! Why not the zip crate's writer: it seeks back to patch each local header and only finishes
//! an entry when the next one starts, so a killed process leaves no way to tell which entries
//! are complete, and appending needs a valid central directory first. Writing entries strictly
//! forwards lets the journal (see `journal.rs`) record every finished entry the moment its
//! bytes are in the file, and lets an append carry the old directory records over untouched.
//! Reading still goes through the zip crate.

use super::volume::ArchiveFile;
use std::io::{Read, Seek, SeekFrom};

const LOCAL_SIG: [u8; 4] = [0x50, 0x4b, 0x03, 0x04];
const DESCRIPTOR_SIG: [u8; 4] = [0x50, 0x4b, 0x07, 0x08];
const CENTRAL_SIG: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];
const EOCD_SIG: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
const ZIP64_EOCD_SIG: [u8; 4] = [0x50, 0x4b, 0x06, 0x06];
const ZIP64_LOCATOR_SIG: [u8; 4] = [0x50, 0x4b, 0x06, 0x07];
const ZIP64_EXTRA_ID: u16 = 0x0001;
/// Sizes and CRC follow the data in a descriptor.
const FLAG_DESCRIPTOR: u16 = 0x0008;
/// Names are UTF-8 (set only when a name is not plain ASCII, as Go does).
const FLAG_UTF8: u16 = 0x0800;
/// Unix, spec 2.0 (4.5 when zip64 fields are present), as Go writes.
const MADE_BY_UNIX: u16 = 3 << 8;
const U32_MAX: u64 = 0xFFFF_FFFF;
pub const LOCAL_HEADER_LEN: u64 = 30;

fn le16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn le32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn le64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}
fn clamp32(v: u64) -> u32 {
    v.min(U32_MAX) as u32
}

/// An MS-DOS date and time (UTC), the only timestamp the base zip records hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DosTime {
    pub time: u16,
    pub date: u16,
}

impl DosTime {
    pub fn now() -> DosTime {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        DosTime::from_unix(secs)
    }

    pub fn from_unix(secs: i64) -> DosTime {
        let (year, month, day) = super::index::civil_from_days(secs.div_euclid(86_400));
        if year < 1980 {
            return DosTime::default();
        }
        let of_day = secs.rem_euclid(86_400);
        DosTime {
            time: (((of_day / 3600) << 11) | ((of_day % 3600 / 60) << 5) | ((of_day % 60) / 2))
                as u16,
            date: (((year - 1980).min(127) as u32) << 9 | month << 5 | day) as u16,
        }
    }
}

/// An entry being written: everything its records need except what the data decides.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub name: String,
    pub header_offset: u64,
    /// zip64 sizes (the local header announces them; descriptors are then 64-bit).
    pub large: bool,
    pub time: DosTime,
}

impl NewEntry {
    fn flags(&self) -> u16 {
        FLAG_DESCRIPTOR | if self.name.is_ascii() { 0 } else { FLAG_UTF8 }
    }

    fn version_needed(&self, zip64: bool) -> u16 {
        if zip64 { 45 } else { 20 }
    }

    pub fn local_header(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LOCAL_HEADER_LEN as usize + self.name.len() + 20);
        out.extend_from_slice(&LOCAL_SIG);
        le16(&mut out, self.version_needed(self.large));
        le16(&mut out, self.flags());
        le16(&mut out, 0); // Stored
        le16(&mut out, self.time.time);
        le16(&mut out, self.time.date);
        le32(&mut out, 0); // CRC and sizes are in the descriptor
        let size_field = if self.large { u32::MAX } else { 0 };
        le32(&mut out, size_field);
        le32(&mut out, size_field);
        le16(&mut out, self.name.len() as u16);
        le16(&mut out, if self.large { 20 } else { 0 });
        out.extend_from_slice(self.name.as_bytes());
        if self.large {
            le16(&mut out, ZIP64_EXTRA_ID);
            le16(&mut out, 16);
            le64(&mut out, 0);
            le64(&mut out, 0);
        }
        out
    }

    pub fn data_offset(&self) -> u64 {
        self.header_offset
            + LOCAL_HEADER_LEN
            + self.name.len() as u64
            + if self.large { 20 } else { 0 }
    }

    pub fn descriptor(&self, crc: u32, size: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        out.extend_from_slice(&DESCRIPTOR_SIG);
        le32(&mut out, crc);
        if self.large {
            le64(&mut out, size);
            le64(&mut out, size);
        } else {
            le32(&mut out, size as u32);
            le32(&mut out, size as u32);
        }
        out
    }

    pub fn descriptor_len(&self) -> u64 {
        if self.large { 24 } else { 16 }
    }

    /// The central directory record of the finished entry.
    pub fn central_record(&self, crc: u32, size: u64) -> CentralRecord {
        let big_size = size >= U32_MAX;
        let big_offset = self.header_offset >= U32_MAX;
        let mut extra = Vec::new();
        if big_size || big_offset {
            let mut body = Vec::new();
            if big_size {
                le64(&mut body, size);
                le64(&mut body, size);
            }
            if big_offset {
                le64(&mut body, self.header_offset);
            }
            le16(&mut extra, ZIP64_EXTRA_ID);
            le16(&mut extra, body.len() as u16);
            extra.extend_from_slice(&body);
        }
        let zip64 = self.large || !extra.is_empty();
        let mut raw = Vec::with_capacity(46 + self.name.len() + extra.len());
        raw.extend_from_slice(&CENTRAL_SIG);
        le16(&mut raw, MADE_BY_UNIX | self.version_needed(zip64));
        le16(&mut raw, self.version_needed(zip64));
        le16(&mut raw, self.flags());
        le16(&mut raw, 0);
        le16(&mut raw, self.time.time);
        le16(&mut raw, self.time.date);
        le32(&mut raw, crc);
        le32(&mut raw, clamp32(size));
        le32(&mut raw, clamp32(size));
        le16(&mut raw, self.name.len() as u16);
        le16(&mut raw, extra.len() as u16);
        le16(&mut raw, 0); // comment
        le16(&mut raw, 0); // disk
        le16(&mut raw, 0); // internal attributes
        le32(&mut raw, 0o100644 << 16); // a regular file, rw-r--r--
        le32(&mut raw, clamp32(self.header_offset));
        raw.extend_from_slice(self.name.as_bytes());
        raw.extend_from_slice(&extra);
        CentralRecord {
            raw,
            name: self.name.clone(),
            header_offset: self.header_offset,
            size,
            uncompressed_size: size,
            crc,
            method: 0,
        }
    }
}

/// One central directory record, kept as its raw bytes so that records of archives written by
/// other tools (Hangar's Go writer) are carried over untouched when we append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CentralRecord {
    pub raw: Vec<u8>,
    pub name: String,
    pub header_offset: u64,
    /// Compressed size (the bytes on disk).
    pub size: u64,
    pub uncompressed_size: u64,
    pub crc: u32,
    pub method: u16,
}

impl CentralRecord {
    /// Parses the record at the start of `bytes`; returns it and its length.
    pub fn parse(bytes: &[u8]) -> Option<(CentralRecord, usize)> {
        if bytes.get(..4)? != CENTRAL_SIG {
            return None;
        }
        let name_len = u16_at(bytes, 28)? as usize;
        let extra_len = u16_at(bytes, 30)? as usize;
        let comment_len = u16_at(bytes, 32)? as usize;
        let len = 46 + name_len + extra_len + comment_len;
        let raw = bytes.get(..len)?;
        let name = String::from_utf8_lossy(&raw[46..46 + name_len]).into_owned();
        let mut usize_ = u32_at(raw, 24)? as u64;
        let mut size = u32_at(raw, 20)? as u64;
        let mut offset = u32_at(raw, 42)? as u64;
        // zip64 extra: the fields present are exactly those whose 32-bit value is saturated.
        let mut extra = &raw[46 + name_len..46 + name_len + extra_len];
        while extra.len() >= 4 {
            let id = u16_at(extra, 0)?;
            let body_len = u16_at(extra, 2)? as usize;
            let body = extra.get(4..4 + body_len)?;
            if id == ZIP64_EXTRA_ID {
                let mut at = 0;
                for field in [&mut usize_, &mut size, &mut offset] {
                    if *field == U32_MAX {
                        *field = u64_at(body, at)?;
                        at += 8;
                    }
                }
            }
            extra = &extra[4 + body_len..];
        }
        Some((
            CentralRecord {
                raw: raw.to_vec(),
                name,
                header_offset: offset,
                size,
                uncompressed_size: usize_,
                crc: u32_at(raw, 16)?,
                method: u16_at(raw, 10)?,
            },
            len,
        ))
    }
}

/// The central directory of a complete archive.
#[derive(Debug, Default)]
pub struct CentralDirectory {
    /// Where the directory starts: the end of the entries' data.
    pub offset: u64,
    pub records: Vec<CentralRecord>,
}

/// Reads the central directory through the end records (zip64 aware). `None` when the file
/// has no valid end record (not a zip, or one whose writing was interrupted).
pub fn read_central_directory<F: Read + Seek>(file: &mut F) -> Option<CentralDirectory> {
    let len = file.seek(SeekFrom::End(0)).ok()?;
    let tail_len = len.min(22 + 65_535 + 20);
    file.seek(SeekFrom::Start(len - tail_len)).ok()?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail).ok()?;
    let eocd = (0..=tail.len().checked_sub(22)?)
        .rev()
        .find(|&i| tail[i..i + 4] == EOCD_SIG)?;
    let (mut count, mut size, mut offset) = (
        u16_at(&tail, eocd + 10)? as u64,
        u32_at(&tail, eocd + 12)? as u64,
        u32_at(&tail, eocd + 16)? as u64,
    );
    if count == 0xFFFF || size == U32_MAX || offset == U32_MAX {
        let locator = eocd.checked_sub(20)?;
        if tail[locator..locator + 4] != ZIP64_LOCATOR_SIG {
            return None;
        }
        let record_at = u64_at(&tail, locator + 8)?;
        file.seek(SeekFrom::Start(record_at)).ok()?;
        let mut record = [0u8; 56];
        file.read_exact(&mut record).ok()?;
        if record[..4] != ZIP64_EOCD_SIG {
            return None;
        }
        count = u64_at(&record, 32)?;
        size = u64_at(&record, 40)?;
        offset = u64_at(&record, 48)?;
    }
    if size > 1 << 30 || offset.checked_add(size)? > len {
        return None;
    }
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut directory = vec![0u8; size as usize];
    file.read_exact(&mut directory).ok()?;
    let mut records = Vec::with_capacity(count.min(1 << 20) as usize);
    let mut at = 0usize;
    for _ in 0..count {
        let (record, len) = CentralRecord::parse(directory.get(at..)?)?;
        records.push(record);
        at += len;
    }
    Some(CentralDirectory { offset, records })
}

/// The central directory (the records in order) and the end records after it, with the zip64
/// end record and locator when the count, the size or the offset needs them.
pub fn directory_and_end(records: &[&CentralRecord], offset: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.iter().map(|r| r.raw.len()).sum::<usize>() + 98);
    for record in records {
        out.extend_from_slice(&record.raw);
    }
    let size = out.len() as u64;
    let count = records.len() as u64;
    if count >= 0xFFFF || size >= U32_MAX || offset >= U32_MAX {
        let zip64_at = offset + size;
        out.extend_from_slice(&ZIP64_EOCD_SIG);
        le64(&mut out, 44);
        le16(&mut out, MADE_BY_UNIX | 45);
        le16(&mut out, 45);
        le32(&mut out, 0);
        le32(&mut out, 0);
        le64(&mut out, count);
        le64(&mut out, count);
        le64(&mut out, size);
        le64(&mut out, offset);
        out.extend_from_slice(&ZIP64_LOCATOR_SIG);
        le32(&mut out, 0);
        le64(&mut out, zip64_at);
        le32(&mut out, 1);
    }
    out.extend_from_slice(&EOCD_SIG);
    le16(&mut out, 0);
    le16(&mut out, 0);
    le16(&mut out, count.min(0xFFFF) as u16);
    le16(&mut out, count.min(0xFFFF) as u16);
    le32(&mut out, clamp32(size));
    le32(&mut out, clamp32(offset));
    le16(&mut out, 0);
    out
}

/// Does the local header at `offset` carry `name`?
pub fn local_header_names(file: &ArchiveFile, offset: u64, name: &str) -> bool {
    let mut header = vec![0u8; LOCAL_HEADER_LEN as usize + name.len()];
    file.read_exact_at(&mut header, offset).is_ok()
        && header[..4] == LOCAL_SIG
        && u16_at(&header, 26) == Some(name.len() as u16)
        && &header[LOCAL_HEADER_LEN as usize..] == name.as_bytes()
}

/// Checks that a journaled entry is really in the file: its local header carries its name at
/// its offset, and its data descriptor sits where its size says the data ends.
pub fn entry_is_intact(file: &ArchiveFile, record: &CentralRecord, end: u64) -> bool {
    let mut header = vec![0u8; LOCAL_HEADER_LEN as usize + record.name.len()];
    if file
        .read_exact_at(&mut header, record.header_offset)
        .is_err()
        || header[..4] != LOCAL_SIG
        || &header[LOCAL_HEADER_LEN as usize..] != record.name.as_bytes()
    {
        return false;
    }
    let (Some(name_len), Some(extra_len)) = (u16_at(&header, 26), u16_at(&header, 28)) else {
        return false;
    };
    // The record must describe the entry as its local header does: the same name (its whole
    // length, not a prefix), unencrypted and Stored. A journal line scribbled into "encrypted"
    // or a shorter name would otherwise keep an entry no reader can open, or one under a name
    // never written (both found by the `journal` fuzz target).
    const ENCRYPTED: u16 = 0x0001 | 0x0040;
    let flags = u16_at(&record.raw, 8);
    let record_name_len = u16_at(&record.raw, 28);
    if flags.is_none_or(|f| f & ENCRYPTED != 0)
        || flags != u16_at(&header, 6)
        || u16_at(&header, 8) != Some(0)
        || record_name_len != Some(name_len)
        || record.raw.get(46..46 + name_len as usize) != Some(record.name.as_bytes())
    {
        return false;
    }
    let data_end =
        record.header_offset + LOCAL_HEADER_LEN + name_len as u64 + extra_len as u64 + record.size;
    let Some(descriptor_len) = end.checked_sub(data_end) else {
        return false;
    };
    if descriptor_len != 16 && descriptor_len != 24 {
        return false;
    }
    // Only Stored entries are journaled, and the descriptor written after the data must say
    // exactly what the record says (signature, CRC, both sizes).
    if record.method != 0 || record.uncompressed_size != record.size {
        return false;
    }
    let mut descriptor = vec![0u8; descriptor_len as usize];
    if file.read_exact_at(&mut descriptor, data_end).is_err() || descriptor[..4] != DESCRIPTOR_SIG {
        return false;
    }
    let sizes = if descriptor_len == 24 {
        (u64_at(&descriptor, 8), u64_at(&descriptor, 16))
    } else {
        (
            u32_at(&descriptor, 8).map(u64::from),
            u32_at(&descriptor, 12).map(u64::from),
        )
    };
    u32_at(&descriptor, 4) == Some(record.crc)
        && sizes == (Some(record.size), Some(record.uncompressed_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_time_of_a_known_instant() {
        // 2025-02-13T10:56:27Z: 10:56:26 (two-second steps), 2025-02-13.
        let t = DosTime::from_unix(1_739_444_187);
        assert_eq!(
            (t.time >> 11, (t.time >> 5) & 63, (t.time & 31) * 2),
            (10, 56, 26)
        );
        assert_eq!(
            (1980 + (t.date >> 9), (t.date >> 5) & 15, t.date & 31),
            (2025, 2, 13)
        );
        assert_eq!(DosTime::from_unix(0), DosTime::default(), "before 1980");
    }

    #[test]
    fn central_records_round_trip_with_zip64_fields() {
        for (offset, size) in [(0, 5), (5 << 30, 7), (12, 5 << 30), (6 << 30, 6 << 30)] {
            let entry = NewEntry {
                name: "share/sha256/ab".into(),
                header_offset: offset,
                large: size >= U32_MAX,
                time: DosTime::default(),
            };
            let record = entry.central_record(0xDEAD_BEEF, size);
            let (parsed, len) = CentralRecord::parse(&record.raw).unwrap();
            assert_eq!(len, record.raw.len());
            assert_eq!(parsed, record);
            assert_eq!((parsed.header_offset, parsed.size), (offset, size));
        }
    }
}
