//! The fuzz targets: every parser that reads bytes someone else wrote (image lists, image
//! references, manifests, indexes and configs, the zip directory and the resume journal,
//! registry error bodies, auth challenges and headers, `Range` headers). `fuzz/` runs them
//! under libFuzzer (`bench/fuzz.sh`); `tests/run` replays the corpora kept in `fuzz/corpus/`
//! through the same functions. A target returns normally for any input; a panic, an overflow
//! or a broken property is the finding; once fixed, its input goes to `fuzz/regressions/`.

use crate::archive::{journal, reader::ArchiveReader, writer::ArchiveWriter, zipfmt};
use crate::image::list::{self, Formats};
use crate::image::manifest::{ConfigPlatform, ImageManifest, Index};
use crate::image::media;
use crate::image::reference::Reference;
use crate::image::schema1::{ConvertedLayer, Schema1};
use crate::registry::parsers;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A fuzz target: any bytes in, a panic out only for a finding.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus directory and its `fuzz/fuzz_targets/` file carry.
pub const TARGETS: &[(&str, Target)] = &[
    ("image_list", image_list),
    ("reference", reference),
    ("manifest", manifest),
    ("zip_directory", zip_directory),
    ("journal", journal),
    ("registry_answers", registry_answers),
    ("range", range),
];

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Image lists in both formats: every entry's text is a line of the input, and every
/// reference parsed from a list parses again from its own display.
pub fn image_list(data: &[u8]) {
    let text = text(data);
    for formats in [Formats::DefaultOnly, Formats::DefaultAndMirror] {
        let parsed = list::parse(&text, formats);
        for entry in &parsed.entries {
            assert!(text.lines().any(|l| l.trim() == entry.text));
            if let list::Line::Default(r) = &entry.line {
                reparses(r);
            }
        }
        for warning in &parsed.warnings {
            let _ = warning.to_string();
        }
    }
}

fn reparses(reference: &Reference) {
    let shown = reference.to_string();
    let again = Reference::parse(&shown)
        .unwrap_or_else(|e| panic!("{shown:?} (displayed from a parsed reference): {e}"));
    assert_eq!(again.to_string(), shown);
}

/// One image reference: parsed, displayed and parsed again to the same display; every way
/// of deriving another reference from it stays valid.
pub fn reference(data: &[u8]) {
    let Ok(r) = Reference::parse(&text(data)) else {
        return;
    };
    reparses(&r);
    let _ = (r.name(), r.manifest_reference(), r.push_tag(), r.project());
    reparses(&r.with_registry("reg.example:5000"));
    if let Some(project) = r.project()
        && let Ok(other) = r.with_project(project)
    {
        reparses(&other);
    }
}

/// Manifests, indexes, configs and schema1 as registries send them, through the same serde
/// views and media-type rules the copy engine uses.
pub fn manifest(data: &[u8]) {
    let _ = media::sniff(data);
    for content_type in [
        None,
        Some(media::OCI_INDEX),
        Some("application/json"),
        Some("text/plain; charset=utf-8"),
    ] {
        let _ = media::resolve(content_type, data);
    }
    if let Ok(m) = serde_json::from_slice::<ImageManifest>(data) {
        let _: u64 = m.blobs().map(|b| b.size).fold(0, u64::saturating_add);
    }
    if let Ok(index) = serde_json::from_slice::<Index>(data) {
        for entry in &index.manifests {
            let _ = (entry.is_attestation(), entry.attestation_subject());
            if let Some(p) = &entry.platform {
                let _ = (p.to_string(), p.needs_config_details());
            }
        }
    }
    if let Ok(config) = serde_json::from_slice::<ConfigPlatform>(data) {
        let mut platform = config.platform();
        config.fill(&mut platform);
    }
    if let Ok(s1) = Schema1::parse(data) {
        let _ = s1.platform();
        let layers: Vec<ConvertedLayer> = s1
            .layers()
            .iter()
            .map(|d| ConvertedLayer {
                size: 1,
                diff_id: d.clone(),
            })
            .collect();
        let _ = s1.to_schema2(&layers);
    }
}

/// A scratch directory for targets that need files (the zip reader works on files).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hangar-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory for the fuzz targets");
        dir
    })
}

/// A thread's own file in the scratch directory.
fn scratch_file(name: &str) -> PathBuf {
    scratch().join(format!("{name}-{:?}", std::thread::current().id()))
}

/// Any bytes as an archive: the raw directory parser and the reader (which checks names,
/// duplicates and ranges) answer with errors; what they hand out is inside the file.
pub fn zip_directory(data: &[u8]) {
    let path = scratch_file("archive.zip");
    std::fs::write(&path, data).expect("scratch file");
    if let Ok(mut file) = std::fs::File::open(&path)
        && let Some(directory) = zipfmt::read_central_directory(&mut file)
    {
        assert!(directory.offset <= data.len() as u64 || directory.records.is_empty());
    }
    let _ = zipfmt::CentralRecord::parse(data);
    if let Ok(mut reader) = ArchiveReader::open(&path) {
        let _ = reader.index();
        let names: Vec<String> = reader.names().map(str::to_string).collect();
        for name in &names {
            if let Ok(bytes) = reader.read(name, 1 << 20) {
                assert!(bytes.len() <= 1 << 20, "{name}: more than asked for");
            }
        }
        if let Ok(blobs) = crate::archive::blobs::ArchiveBlobs::new(&path, &mut reader) {
            for name in &names {
                // Byte ranges handed out (what load and serve stream) lie inside the file.
                if let Some(size) = blobs.size(name) {
                    assert!(size <= data.len() as u64, "{name}: a range past the end");
                }
                let _ = blobs.read_small(name, 1 << 20);
            }
        }
    }
}

/// A small archive whose writing was cut short (three entries, no directory) and the journal
/// that writing left, built once.
fn interrupted_archive() -> &'static (Vec<u8>, Vec<u8>) {
    static ARCHIVE: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let path = scratch_file("seed.zip");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let writer = ArchiveWriter::create(&path).expect("seed archive");
            for i in 0..3u8 {
                writer
                    .write_bytes(
                        &format!("entry/{i}"),
                        bytes::Bytes::from(vec![i; 300 * (i as usize + 1)]),
                    )
                    .await
                    .expect("seed entry");
            }
        });
        let bytes = std::fs::read(&path).expect("seed archive");
        let journal_bytes = std::fs::read(journal::path_for(&path)).expect("seed journal");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(journal::path_for(&path));
        (bytes, journal_bytes)
    })
}

/// Any bytes as the resume journal of an interrupted archive (the first two bytes choose
/// where the archive itself was cut): recovery keeps only entries the file really holds, and
/// what it keeps reads back as written.
pub fn journal(data: &[u8]) {
    let (cut, journal_bytes) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) as usize, rest),
        _ => (usize::MAX, data),
    };
    let (archive, _) = interrupted_archive();
    let path = scratch_file("interrupted.zip");
    std::fs::write(&path, &archive[..cut.min(archive.len())]).expect("scratch file");
    std::fs::write(journal::path_for(&path), journal_bytes).expect("scratch file");
    let _ = journal::state(&path);
    if let Ok(Some(recovered)) = journal::recover(&path)
        && let Ok(mut reader) = ArchiveReader::open(&path)
    {
        let _ = recovered.partial;
        let names: Vec<String> = reader.names().map(str::to_string).collect();
        for name in names {
            let bytes = reader
                .read(&name, 1 << 20)
                .expect("a kept entry reads back");
            let i: usize = name
                .strip_prefix("entry/")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("recovery kept {name:?}, which was never written"));
            assert_eq!(bytes, vec![i as u8; 300 * (i + 1)], "{name}");
        }
    }
    let _ = std::fs::remove_file(journal::path_for(&path));
}

/// What registries answer besides manifests and blobs: error bodies (any status), auth
/// challenges, `Retry-After` and `Link` headers.
pub fn registry_answers(data: &[u8]) {
    let status = data.first().map_or(500, |b| 400 + u16::from(*b));
    let _ = parsers::error_detail(status, data);
    let text = text(data);
    let _ = parsers::parse_challenge(&text);
    let _ = parsers::parse_retry_after(&text);
    if let Some(link) = parsers::next_link(&text) {
        assert!(text.contains(&link));
    }
}

/// `Range` headers against a blob of a size the first eight bytes choose: a part served is
/// inside the blob.
pub fn range(data: &[u8]) {
    use crate::serve::http::{Ranged, parse_range};
    let (size, header) = match data {
        [a, b, c, d, e, f, g, h, rest @ ..] => {
            (u64::from_le_bytes([*a, *b, *c, *d, *e, *f, *g, *h]), rest)
        }
        _ => (100, data),
    };
    for size in [size, size % 1000, 0, 1] {
        if let Ranged::Part(first, last) = parse_range(&text(header), size) {
            assert!(first <= last && last < size, "{first}-{last} of {size}");
        }
    }
}

#[cfg(test)]
mod tests {
    /// Replays every input of `fuzz/corpus/<target>/` (the corpora `bench/fuzz.sh` grows and
    /// minimises) and of `fuzz/regressions/<target>/` (inputs that were findings once, kept
    /// under their own names): each must run through its target without a finding.
    #[test]
    fn fuzz_corpora_replay_cleanly() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut replayed = 0;
        for (name, target) in super::TARGETS {
            let corpus = root.join("corpus").join(name);
            let mut inputs: Vec<std::path::PathBuf> = std::fs::read_dir(&corpus)
                .unwrap_or_else(|e| {
                    panic!("{}: {e} (every target keeps a corpus)", corpus.display())
                })
                .map(|entry| entry.unwrap().path())
                .collect();
            assert!(
                !inputs.is_empty(),
                "{name}: an empty corpus replays nothing"
            );
            if let Ok(regressions) = std::fs::read_dir(root.join("regressions").join(name)) {
                inputs.extend(regressions.map(|entry| entry.unwrap().path()));
            }
            for path in &inputs {
                let data = std::fs::read(path).unwrap();
                let result = std::panic::catch_unwind(|| target(&data));
                assert!(result.is_ok(), "{name}: {} is a finding", path.display());
            }
            replayed += inputs.len();
        }
        eprintln!("replayed {replayed} fuzz inputs");
    }

    /// Writes the seeds of the file-shaped targets (a complete archive, the journal of the
    /// interrupted one) into `fuzz/corpus/`: `cargo test -p hangar --lib write_fuzz_seeds --
    /// --ignored`. The other targets' seeds are small text files written by hand.
    #[test]
    #[ignore]
    fn write_fuzz_seeds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        let (archive, journal_bytes) = super::interrupted_archive();
        // Cut nowhere (0xFFFF is past the end), then the journal as written.
        let mut journal_seed = vec![0xFF, 0xFF];
        journal_seed.extend_from_slice(journal_bytes);
        std::fs::write(root.join("journal/seed-killed-save"), journal_seed).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("complete.zip");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let writer = crate::archive::writer::ArchiveWriter::create(&path).unwrap();
            let blob = b"a blob";
            let digest = crate::image::Digest::sha256_of(blob);
            writer
                .write_bytes(
                    &format!("share/sha256/{}", digest.hex()),
                    bytes::Bytes::from_static(blob),
                )
                .await
                .unwrap();
            writer
                .write_bytes(
                    "index.json",
                    bytes::Bytes::from_static(br#"{"version":"v1.2.0","time":"t","list":[]}"#),
                )
                .await
                .unwrap();
            writer.finish().await.unwrap();
        });
        std::fs::write(
            root.join("zip_directory/seed-archive"),
            std::fs::read(&path).unwrap(),
        )
        .unwrap();
        std::fs::write(root.join("zip_directory/seed-interrupted"), archive).unwrap();
    }
}
