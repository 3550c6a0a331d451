//! Property tests (fuzzing) of everything that parses archive bytes: a valid archive is cut,
//! overwritten and extended at random, and the reader, the raw directory parser, the blob
//! ranges and the resume recovery must answer with errors, never panic, never read outside
//! the file, and never accept content that does not match its name. Failing cases are kept
//! in `proptest-regressions/` (the small corpus the repository carries).

use super::blobs::ArchiveBlobs;
use super::journal;
use super::reader::ArchiveReader;
use super::writer::ArchiveWriter;
use super::zipfmt::{self, CentralRecord};
use bytes::Bytes;
use proptest::prelude::*;
use std::sync::OnceLock;

/// A small but complete archive (two blobs, a layout, the index), built once.
fn seed() -> &'static Vec<u8> {
    static SEED: OnceLock<Vec<u8>> = OnceLock::new();
    SEED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.zip");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let writer = ArchiveWriter::create(&path).unwrap();
            for body in [&b"first blob"[..], &[7u8; 3000][..]] {
                let digest = hangar_image::Digest::sha256_of(body);
                writer
                    .write_bytes(
                        &format!("share/sha256/{}", digest.hex()),
                        Bytes::copy_from_slice(body),
                    )
                    .await
                    .unwrap();
            }
            writer
                .write_bytes(
                    "abc/oci-layout",
                    Bytes::from_static(br#"{"imageLayoutVersion":"1.0.0"}"#),
                )
                .await
                .unwrap();
            writer
                .write_bytes(
                    "index.json",
                    Bytes::from_static(br#"{"version":"v1.2.0","time":"t"}"#),
                )
                .await
                .unwrap();
            writer.finish().await.unwrap();
        });
        std::fs::read(&path).unwrap()
    })
}

#[derive(Debug, Clone)]
enum Damage {
    Truncate(usize),
    Overwrite(usize, Vec<u8>),
    Append(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Damage::Overwrite(at, b)),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Damage::Append),
    ]
}

fn apply(mut bytes: Vec<u8>, damages: &[Damage]) -> Vec<u8> {
    for d in damages {
        match d {
            Damage::Truncate(at) => bytes.truncate(at % (bytes.len() + 1)),
            Damage::Overwrite(at, with) if !bytes.is_empty() => {
                let at = at % bytes.len();
                for (i, b) in with.iter().enumerate() {
                    if let Some(slot) = bytes.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
            Damage::Overwrite(..) => {}
            Damage::Append(more) => bytes.extend_from_slice(more),
        }
    }
    bytes
}

/// Opens and reads everything; any content handed out under a `share/sha256/<hex>` name is
/// checked the way load and verify check it.
fn read_everything(path: &std::path::Path) {
    let Ok(mut reader) = ArchiveReader::open(path) else {
        return;
    };
    let _ = reader.index();
    let names: Vec<String> = reader.names().map(str::to_string).collect();
    for name in &names {
        let _ = reader.read(name, 1 << 20);
    }
    if let Ok(blobs) = ArchiveBlobs::new(path, &mut reader) {
        let len = std::fs::metadata(path).unwrap().len();
        for name in &names {
            if let Some(size) = blobs.size(name) {
                assert!(size <= len, "{name}: a range longer than the file");
            }
            let _ = blobs.read_small(name, 1 << 20);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn damaged_archives_never_panic_the_reader(damages in proptest::collection::vec(damage(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.zip");
        std::fs::write(&path, apply(seed().clone(), &damages)).unwrap();
        read_everything(&path);
        let mut file = std::fs::File::open(&path).unwrap();
        let _ = zipfmt::read_central_directory(&mut file);
    }

    #[test]
    fn arbitrary_directory_records_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut record = b"PK\x01\x02".to_vec();
        record.extend_from_slice(&bytes);
        let _ = CentralRecord::parse(&record);
        let _ = CentralRecord::parse(&bytes);
    }

    /// A journal cut or scribbled anywhere recovers to a readable archive (or a clear error),
    /// never keeping an entry the file does not hold.
    #[test]
    fn damaged_journals_recover_safely(damages in proptest::collection::vec(damage(), 1..3), file_cut in any::<usize>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("interrupted.zip");
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let writer = ArchiveWriter::create(&path).unwrap();
            for i in 0..4u8 {
                writer.write_bytes(&format!("entry/{i}"), Bytes::from(vec![i; 500 * (i as usize + 1)])).await.unwrap();
            }
            // Dropped without finishing, like a killed process.
        });
        let journal_path = journal::path_for(&path);
        let journal_bytes = apply(std::fs::read(&journal_path).unwrap(), &damages);
        std::fs::write(&journal_path, journal_bytes).unwrap();
        let archive = std::fs::read(&path).unwrap();
        std::fs::write(&path, &archive[..file_cut % (archive.len() + 1)]).unwrap();
        if let Ok(Some(_)) = journal::recover(&path) {
            let mut reader = ArchiveReader::open(&path).unwrap();
            let names: Vec<String> = reader.names().map(str::to_string).collect();
            for name in names {
                let i: usize = name.trim_start_matches("entry/").parse().unwrap();
                prop_assert_eq!(reader.read(&name, 1 << 20).unwrap(), vec![i as u8; 500 * (i + 1)]);
            }
        }
    }
}
