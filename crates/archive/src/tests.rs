//! The writer and reader against independent checkers: `unzip -t` and Python's `zipfile`.

use super::index::{ArchiveIndex, Image, ImageSpec};
use super::reader::{ArchiveReader, INDEX_NAME, ReadError};
use super::writer::{ArchiveWriter, WriteError};
use bytes::Bytes;
use hangar_image::Digest;
use std::process::Command;
use std::sync::Arc;

fn chunks(
    data: &[u8],
    size: usize,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    let parts: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(size)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(parts)
}

fn python(script: &str, path: &std::path::Path) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_entries_make_a_valid_stored_zip_with_the_index_last() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.zip");
    let writer = Arc::new(ArchiveWriter::create(&path).unwrap());
    let a: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let b: Vec<u8> = (0..1_000_000u32).map(|i| (i % 241) as u8).collect();
    let (da, db) = (Digest::sha256_of(&a), Digest::sha256_of(&b));
    // Two producers at once: entries must not interleave.
    let (wa, wb) = (writer.clone(), writer.clone());
    let (na, nb) = (
        format!("share/sha256/{}", da.hex()),
        format!("share/sha256/{}", db.hex()),
    );
    let (ta, tb) = (a.clone(), b.clone());
    let (ra, rb) = tokio::join!(
        async move {
            wa.write_entry(&na, ta.len() as u64, chunks(&ta, 65_536))
                .await
        },
        async move {
            wb.write_entry(&nb, tb.len() as u64, chunks(&tb, 10_000))
                .await
        },
    );
    assert_eq!((ra.unwrap(), rb.unwrap()), (a.len() as u64, b.len() as u64));
    writer
        .write_bytes(
            &format!("{}/oci-layout", da.hex()),
            Bytes::from_static(br#"{"imageLayoutVersion":"1.0.0"}"#),
        )
        .await
        .unwrap();
    let mut index = ArchiveIndex::new();
    index.list.push(Image {
        source: "docker.io/library/app".into(),
        tag: "1".into(),
        arch_list: vec!["amd64".into()],
        os_list: vec!["linux".into()],
        images: vec![ImageSpec {
            arch: "amd64".into(),
            os: "linux".into(),
            digest: da.to_string(),
            ..Default::default()
        }],
        source_manifest: None,
    });
    writer
        .write_bytes(INDEX_NAME, Bytes::from(index.to_bytes()))
        .await
        .unwrap();
    writer.finish().await.unwrap();

    let unzip = Command::new("unzip")
        .arg("-t")
        .arg(&path)
        .output()
        .expect("unzip must be installed (apt-get install unzip)");
    assert!(
        unzip.status.success(),
        "{}",
        String::from_utf8_lossy(&unzip.stdout)
    );
    assert!(String::from_utf8_lossy(&unzip.stdout).contains("No errors detected"));
    let listing = python(
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(all(i.compress_type == 0 for i in z.infolist()))\nprint([i.filename for i in z.infolist()][-1])\nprint(len(z.infolist()))",
        &path,
    );
    assert_eq!(
        listing, "True\nindex.json\n4\n",
        "all Stored, index.json last, 4 entries"
    );

    let mut reader = ArchiveReader::open(&path).unwrap();
    assert_eq!(reader.index().unwrap(), index);
    assert_eq!(
        reader
            .read(&format!("share/sha256/{}", da.hex()), 10 << 20)
            .unwrap(),
        a
    );
    assert_eq!(
        Digest::sha256_of(
            &reader
                .read(&format!("share/sha256/{}", db.hex()), 10 << 20)
                .unwrap()
        ),
        db
    );
    assert!(matches!(
        reader.read("nope", 10),
        Err(ReadError::Missing(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_failing_mid_entry_leaves_no_partial_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.zip");
    let writer = ArchiveWriter::create(&path).unwrap();
    let broken = futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"first half")),
        Err(std::io::Error::other("connection reset")),
    ]);
    let err = writer
        .write_entry("share/sha256/broken", 20, broken)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WriteError::Source { name, message } if name == "share/sha256/broken" && message.contains("reset")),
        "{err}"
    );
    writer
        .write_bytes("ok", Bytes::from_static(b"fine"))
        .await
        .unwrap();
    writer.finish().await.unwrap();
    let mut reader = ArchiveReader::open(&path).unwrap();
    assert!(!reader.contains("share/sha256/broken"));
    assert_eq!(reader.read("ok", 10).unwrap(), b"fine");
}

#[test]
fn hostile_archives_are_refused_with_the_entry_named() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, script: &str| {
        let p = dir.path().join(name);
        python(script, &p);
        p
    };
    let traversal = make(
        "traversal.zip",
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\nz.writestr('share/../../evil', 'x')\nz.close()\nprint()",
    );
    let absolute = make(
        "absolute.zip",
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\nzi = zipfile.ZipInfo('/etc/evil')\nz.writestr(zi, 'x')\nz.close()\nprint()",
    );
    let duplicate = make(
        "dup.zip",
        "import sys, zipfile, warnings\nwarnings.simplefilter('ignore')\nz = zipfile.ZipFile(sys.argv[1], 'w')\nz.writestr('index.json', '1')\nz.writestr('index.json', '2')\nz.close()\nprint()",
    );
    for (path, needle) in [
        (&traversal, "share/../../evil"),
        (&absolute, "/etc/evil"),
        (&duplicate, "index.json"),
    ] {
        let err = ArchiveReader::open(path)
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", path.display()))
            .to_string();
        assert!(err.contains(needle), "{err}");
    }
    // A truncated archive (no central directory) is refused as such.
    let good = make(
        "good.zip",
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\nz.writestr('a', 'x' * 1000)\nz.close()\nprint()",
    );
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.zip");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = ArchiveReader::open(&cut)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("cut.zip") && err.contains("not a readable zip archive"),
        "{err}"
    );
    // A gzip file (Hangar's tar.gz archives before v1.7) is named as such.
    let old = dir.path().join("old.tar.gz");
    std::fs::write(&old, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]).unwrap();
    let err = ArchiveReader::open(&old)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("old.tar.gz") && err.contains("from before v1.7 (tar.gz)"),
        "{err}"
    );
    // An archive without index.json says which file is missing.
    let err = ArchiveReader::open(&good)
        .unwrap()
        .index()
        .unwrap_err()
        .to_string();
    assert_eq!(err, "file \"index.json\" not found in archive");
}

fn unzip_ok(path: &std::path::Path) {
    let unzip = Command::new("unzip")
        .arg("-tq")
        .arg(path)
        .output()
        .expect("unzip");
    assert!(
        unzip.status.success(),
        "unzip -t {}: {}{}",
        path.display(),
        String::from_utf8_lossy(&unzip.stdout),
        String::from_utf8_lossy(&unzip.stderr)
    );
}

fn sorted_names(path: &std::path::Path) -> Vec<String> {
    let reader = ArchiveReader::open(path).unwrap();
    let mut names: Vec<String> = reader.names().map(str::to_string).collect();
    names.sort();
    names
}

/// A writer that stops without finishing (as a killed process does) leaves a journal; cutting
/// the file and the journal anywhere must still recover exactly the entries both vouch for.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_archive_recovers_every_finished_entry_and_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.zip");
    let blobs: Vec<Vec<u8>> = (0..3u32)
        .map(|n| {
            (0..200_000 + n * 70_000)
                .map(|i| (i * (n + 3) % 253) as u8)
                .collect()
        })
        .collect();
    let names: Vec<String> = blobs
        .iter()
        .map(|b| format!("share/sha256/{}", Digest::sha256_of(b).hex()))
        .collect();
    {
        let writer = ArchiveWriter::create(&path).unwrap();
        for (name, blob) in names.iter().zip(&blobs) {
            writer
                .write_entry(name, blob.len() as u64, chunks(blob, 30_000))
                .await
                .unwrap();
        }
        // Dropped without finish: no central directory, the journal stays.
    }
    let journal_path = super::journal::path_for(&path);
    let journal = std::fs::read(&journal_path).unwrap();
    let full = std::fs::read(&path).unwrap();
    assert!(
        ArchiveReader::open(&path).is_err(),
        "an interrupted archive is refused"
    );
    let ends: Vec<u64> = String::from_utf8_lossy(&journal)
        .lines()
        .filter(|l| l.contains("\"end\""))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["end"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ends.len(), 3);
    // Cut points: inside each header, data and descriptor, exactly at each end, and the whole.
    let mut cuts = vec![0, 10, full.len() as u64];
    for &end in &ends {
        cuts.extend([end - 3, end, end + 20, end + 100_000]);
    }
    for cut in cuts.into_iter().filter(|&c| c <= full.len() as u64) {
        for journal_cut in [journal.len(), journal.len() - 7] {
            let case = dir.path().join(format!("cut-{cut}-{journal_cut}.zip"));
            std::fs::write(&case, &full[..cut as usize]).unwrap();
            std::fs::write(super::journal::path_for(&case), &journal[..journal_cut]).unwrap();
            let recovered = super::journal::recover(&case).unwrap().unwrap();
            let journaled = if journal_cut == journal.len() { 3 } else { 2 };
            let kept = ends.iter().take(journaled).filter(|&&e| e <= cut).count();
            assert_eq!(recovered.entries, kept, "cut {cut}, journal {journal_cut}");
            assert!(!super::journal::path_for(&case).exists());
            let mut expected: Vec<String> = names[..kept].to_vec();
            expected.sort();
            if kept == 0 {
                // An empty zip: still valid, nothing to list.
                assert!(sorted_names(&case).is_empty());
                continue;
            }
            unzip_ok(&case);
            assert_eq!(sorted_names(&case), expected, "cut {cut}");
        }
    }

    // Recover the real one and append: old entries stay where they are, the index replaces.
    super::journal::recover(&path).unwrap().unwrap();
    for round in 0..2 {
        let writer = ArchiveWriter::append(&path, None).unwrap();
        assert_eq!(writer.existing().len(), 3 + round);
        writer
            .write_bytes(INDEX_NAME, Bytes::from(format!("{{\"round\":{round}}}")))
            .await
            .unwrap();
        writer.finish().await.unwrap();
    }
    assert_eq!(
        std::fs::read(&path).unwrap()[..ends[2] as usize],
        full[..ends[2] as usize]
    );
    unzip_ok(&path);
    let mut reader = ArchiveReader::open(&path).unwrap();
    assert_eq!(reader.read(INDEX_NAME, 100).unwrap(), b"{\"round\":1}");
    assert_eq!(reader.read(&names[1], 1 << 20).unwrap(), blobs[1]);
    assert!(!journal_path.exists());
}

/// zip64 in every form: an entry over 4 GiB, entries at offsets past 4 GiB, more than 65535
/// entries; checked by unzip, Python and our reader.
#[tokio::test(flavor = "multi_thread")]
async fn zip64_sizes_offsets_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.zip");
    let writer = ArchiveWriter::create(&path).unwrap();
    let chunk = Bytes::from(vec![7u8; 1 << 20]);
    let big: u64 = (4 << 30) + (3 << 20);
    let stream = futures_util::stream::iter(
        (0..big >> 20).map(|_| Ok::<Bytes, std::io::Error>(chunk.clone())),
    );
    assert_eq!(writer.write_entry("big", big, stream).await.unwrap(), big);
    for i in 0..66_000u32 {
        writer
            .write_bytes(&format!("small/{i}"), Bytes::from(i.to_string()))
            .await
            .unwrap();
    }
    writer.finish().await.unwrap();
    let listing = python(
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(len(z.infolist()), z.getinfo('big').file_size, z.read('small/65999').decode())\nprint(z.testzip())",
        &path,
    );
    assert_eq!(listing, format!("66001 {big} 65999\nNone\n"));
    unzip_ok(&path);
    let mut reader = ArchiveReader::open(&path).unwrap();
    assert_eq!(reader.read("small/12345", 10).unwrap(), b"12345");
}

/// A kill in the middle of an entry keeps the bytes already written: recovery reports the
/// partial entry, `resume` reopens it in place, and only the rest is streamed in.
#[tokio::test(flavor = "multi_thread")]
async fn an_entry_cut_by_a_kill_is_continued_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.zip");
    let first: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
    let second: Vec<u8> = (0..900_000u32).map(|i| (i % 251) as u8).collect();
    let name = format!("share/sha256/{}", Digest::sha256_of(&second).hex());
    {
        let writer = ArchiveWriter::create(&path).unwrap();
        writer
            .write_bytes("first", Bytes::from(first.clone()))
            .await
            .unwrap();
        writer
            .write_blob(
                &name,
                second.len() as u64,
                "registry.example/app",
                chunks(&second, 50_000),
            )
            .await
            .unwrap();
    }
    // As if killed mid-entry: the file stops 400 000 bytes into the data, and the journal
    // has the entry's start but not its end.
    let journal_path = super::journal::path_for(&path);
    let journal = std::fs::read_to_string(&journal_path).unwrap();
    let kept: Vec<&str> = journal
        .lines()
        .filter(|l| {
            !l.contains(&format!(
                "\"end\":{}",
                std::fs::metadata(&path).unwrap().len()
            ))
        })
        .collect();
    std::fs::write(&journal_path, kept.join("\n") + "\n").unwrap();
    let started: super::journal::Started = serde_json::from_str(kept.last().unwrap()).unwrap();
    assert_eq!(
        (started.name.as_str(), started.origin.as_str()),
        (name.as_str(), "registry.example/app")
    );
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(started.data + 400_000).unwrap();
    drop(file);

    let recovered = super::journal::recover(&path).unwrap().unwrap();
    assert_eq!(recovered.entries, 1);
    let partial = recovered.partial.expect("the cut entry is kept");
    assert_eq!((partial.len, partial.started.size), (400_000, 900_000));
    assert_eq!(
        sorted_names(&path),
        vec!["first".to_string()],
        "valid meanwhile, without it"
    );

    let (writer, prefix) = ArchiveWriter::resume(&path, &partial, None).unwrap();
    use sha2::Digest as _;
    assert_eq!(
        prefix.finalize().to_vec(),
        sha2::Sha256::digest(&second[..400_000]).to_vec()
    );
    let rest = writer
        .continue_entry(&name, chunks(&second[400_000..], 64_000))
        .await
        .unwrap();
    assert_eq!(rest, 900_000, "the entry's full size");
    writer
        .write_bytes(INDEX_NAME, Bytes::from_static(b"{}"))
        .await
        .unwrap();
    writer.finish().await.unwrap();
    unzip_ok(&path);
    let mut reader = ArchiveReader::open(&path).unwrap();
    assert_eq!(reader.read(&name, 1 << 20).unwrap(), second);
    assert_eq!(reader.read("first", 1 << 20).unwrap(), first);
    // No gap: the archive is as long as an uninterrupted one would be.
    assert!(std::fs::metadata(&path).unwrap().len() < 1_000_000 + 1_000 + 300);
}

/// Hangar never compresses entries; one that is (another tool's zip) is named with the reason
/// when asked for, instead of looking missing.
#[test]
fn a_compressed_entry_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deflated.zip");
    python(
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\nz.writestr('share/sha256/abc', b'x' * 1000, compress_type=zipfile.ZIP_DEFLATED)\nz.writestr('stored', b'y' * 10)\nz.close()",
        &path,
    );
    let mut reader = ArchiveReader::open(&path).unwrap();
    let blobs = super::blobs::ArchiveBlobs::new(&path, &mut reader).unwrap();
    assert_eq!(
        blobs.read_small("stored", 100).unwrap(),
        &b"y".repeat(10)[..]
    );
    let err = blobs
        .read_small("share/sha256/abc", 10_000)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("share/sha256/abc") && err.contains("is compressed"),
        "{err}"
    );
    let missing = blobs.read_small("nope", 10).unwrap_err().to_string();
    assert!(missing.contains("is not in the archive"), "{missing}");
}
