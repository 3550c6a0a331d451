//! Split archives: `save --split-size` writes `NAME.zip.000`, `.001`, … whose concatenation
//! is the zip; every reader takes the parts; a kill mid-part resumes across boundaries.

use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Format, Image, Platform};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use hangar_tests::serving::serve;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

const MIB: u64 = 1 << 20;

/// 4 images of one 256 MiB layer each (1 GiB of blobs), on `src`.
async fn gigabyte(src: &RegistryServer) -> Vec<(String, Image)> {
    let p = Pusher::new(src);
    let mut images = Vec::new();
    for n in 0..4u64 {
        let image = images::image(
            Format::Oci,
            Platform::new("linux", "amd64", None),
            &[images::layer(Format::Oci, 3000 + n, 256 << 20)],
        );
        let repo = format!("big/app{n}");
        p.push_image(&repo, Some("1"), &image).await;
        images.push((repo, image));
    }
    images
}

/// Every entry's name → sha256 of its bytes (index.json without its creation time), read
/// with the zip crate, streaming.
fn entry_digests(path: &Path) -> BTreeMap<String, String> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        let mut hasher = Sha256::new();
        if name == "index.json" {
            let mut index: serde_json::Value = serde_json::from_reader(&mut entry).unwrap();
            index.as_object_mut().unwrap().remove("time");
            hasher.update(index.to_string());
        } else {
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = entry.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        }
        out.insert(name, format!("{:x}", hasher.finalize()));
    }
    out
}

/// The size of an archive's index.json entry.
fn index_len(path: &Path) -> u64 {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    zip.by_name("index.json").unwrap().size()
}

fn parts_of(env: &Env, name: &str) -> Vec<std::path::PathBuf> {
    (0..)
        .map(|n| env.path(&format!("{name}.{n:03}")))
        .take_while(|p| p.exists())
        .collect()
}

fn concatenate(parts: &[std::path::PathBuf], out: &Path) {
    let mut joined = std::fs::File::create(out).unwrap();
    for part in parts {
        std::io::copy(&mut std::fs::File::open(part).unwrap(), &mut joined).unwrap();
    }
}

async fn assert_loaded(dst: &RegistryServer, images: &[(String, Image)]) {
    let p = Pusher::new(dst);
    for (repo, image) in images {
        let got = p.manifest(repo, "1").await.expect("loaded");
        assert_eq!(got.digest, image.manifest.digest, "{repo}");
        assert!(p.blob_exists(repo, &image.layers[0].digest).await);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_split_save_is_its_zip_in_parts_and_every_reader_takes_them() {
    let src = RegistryServer::plain();
    let images = gigabyte(&src).await;
    let env = Env::new();
    let list: String = images
        .iter()
        .map(|(repo, _)| format!("{}/{repo}:1\n", src.addr))
        .collect();
    env.write("list.txt", &list);
    let save = |archive: &str, extra: &[&str]| {
        let mut extra = extra.to_vec();
        extra.push("-y");
        let run = env.save("list.txt", archive, &extra);
        assert_eq!(run.code, 0, "{}", run.output());
    };
    save("whole.zip", &[]);
    save("split.zip", &["--split-size", "100M"]);
    assert!(!env.path("split.zip").exists());
    let parts = parts_of(&env, "split.zip");
    let whole_len = std::fs::metadata(env.path("whole.zip")).unwrap().len();
    assert_eq!(
        parts.len() as u64,
        whole_len.div_ceil(100 * MIB),
        "{parts:?}"
    );
    for part in &parts[..parts.len() - 1] {
        assert_eq!(
            std::fs::metadata(part).unwrap().len(),
            100 * MIB,
            "{part:?}"
        );
    }
    // `cat` of the parts is a zip any reader opens, with the unsplit archive's entries.
    concatenate(&parts, &env.path("joined.zip"));
    // Two saves differ only in their index.json (its time has as many digits as it needs).
    assert_eq!(
        std::fs::metadata(env.path("joined.zip")).unwrap().len()
            - index_len(&env.path("joined.zip")),
        whole_len - index_len(&env.path("whole.zip"))
    );
    let checked = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(len(z.namelist()))",
        ])
        .arg(env.path("joined.zip"))
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let whole = entry_digests(&env.path("whole.zip"));
    assert_eq!(entry_digests(&env.path("joined.zip")), whole);

    // Readers take the base name or any part.
    let ls = env.run(&["archive", "ls", "split.zip.000"]);
    assert_eq!(ls.code, 0, "{}", ls.output());
    assert_eq!(ls.stdout.lines().count(), 4, "{}", ls.stdout);
    let verify = env.run(&["archive", "verify", "split.zip"]);
    assert_eq!(verify.code, 0, "{}", verify.output());
    assert!(
        verify.output().contains("0 problems"),
        "{}",
        verify.output()
    );
    for (archive, dst) in [
        ("split.zip.000", RegistryServer::plain()),
        ("whole.zip", RegistryServer::plain()),
    ] {
        let run = env.load(archive, &dst.addr, &[]);
        assert_eq!(run.code, 0, "{}", run.output());
        assert_loaded(&dst, &images).await;
    }
    // serve reads blobs across part boundaries: every layer straddles one or more.
    let serving = serve(&env, "split.zip");
    let client = reqwest::Client::new();
    for (repo, image) in &images {
        let url = format!(
            "http://{}/v2/{repo}/blobs/{}",
            serving.addr, image.layers[0].digest
        );
        let body = client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            format!("sha256:{:x}", Sha256::digest(&body)),
            image.layers[0].digest,
            "{repo}"
        );
    }
    drop(serving);
    // export writes parts too, and reads them.
    let export = env.run(&[
        "archive",
        "export",
        "-f",
        "list.txt",
        "-s",
        "split.zip",
        "-d",
        "exported.zip",
        "--split-size",
        "300M",
    ]);
    assert_eq!(export.code, 0, "{}", export.output());
    let exported = parts_of(&env, "exported.zip");
    assert_eq!(exported.len() as u64, whole_len.div_ceil(300 * MIB));
    concatenate(&exported, &env.path("exported-joined.zip"));
    let mut got = entry_digests(&env.path("exported-joined.zip"));
    let mut want = whole.clone();
    // Export writes its own index (same list, its own time); the entries are the same.
    got.remove("index.json");
    want.remove("index.json");
    assert_eq!(got, want);

    // A damaged entry names its parts: one byte flipped in part 5, inside the third 256 MiB
    // layer (from 512 MiB on), which spans parts 5 to 7.
    let part = env.path("split.zip.005");
    let pristine = std::fs::read(&part).unwrap();
    let mut damaged = pristine.clone();
    damaged[(50 * MIB) as usize] ^= 0xff;
    std::fs::write(&part, &damaged).unwrap();
    let verify = env.run(&["archive", "verify", "split.zip"]);
    assert_eq!(verify.code, 1, "{}", verify.output());
    assert!(
        verify
            .output()
            .contains("(in split.zip.005 to split.zip.007): content hashes to"),
        "{}",
        verify.output()
    );
    std::fs::write(&part, &pristine).unwrap();

    // A missing part is named.
    std::fs::rename(env.path("split.zip.004"), env.path("aside")).unwrap();
    let missing = env.run(&["archive", "ls", "split.zip"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .output()
            .contains("split.zip.004 of the split archive is missing"),
        "{}",
        missing.output()
    );
    std::fs::rename(env.path("aside"), env.path("split.zip.004")).unwrap();
    let last = parts.last().unwrap();
    std::fs::rename(last, env.path("aside")).unwrap();
    let cut = env.run(&["archive", "ls", "split.zip"]);
    assert_eq!(cut.code, 1);
    assert!(
        cut.output().contains("a later part is missing"),
        "{}",
        cut.output()
    );
    std::fs::rename(env.path("aside"), last).unwrap();

    // kill -9 in the middle of a part, then the same command: it resumes across the parts
    // and ends with the same entries.
    let args = [
        "save",
        "-f",
        "list.txt",
        "-d",
        "killed.zip",
        "--tls-verify=false",
        "-j",
        "2",
        "--split-size",
        "100M",
    ];
    let mut child = env.spawn(&args);
    let target = env.path("killed.zip.004");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0) < 30 * MIB {
        assert!(
            std::time::Instant::now() < deadline,
            "save never reached part 4"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "save ended before the kill"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let rerun = env.run(&args);
    assert_eq!(rerun.code, 0, "{}", rerun.output());
    assert!(
        rerun.output().contains("Resuming interrupted archive"),
        "{}",
        rerun.output()
    );
    assert!(!hangar_tests::hangar::journal_of(&env.path("killed.zip")).exists());
    let killed = parts_of(&env, "killed.zip");
    concatenate(&killed, &env.path("killed-joined.zip"));
    assert_eq!(entry_digests(&env.path("killed-joined.zip")), whole);
}
