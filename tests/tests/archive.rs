//! `hangar save`: registry → Hangar archive, checked with independent tools (unzip, Python's
//! zipfile) and field by field against Hangar's format.

use hangar_tests::fault_proxy::{Fault, FaultProxy, Rule};
use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Format, MultiArch, Platform, sha256};
use hangar_tests::pusher::{Pusher, seed_schema1};
use hangar_tests::registry::RegistryServer;
use std::collections::HashMap;
use std::io::Read as _;
use std::process::Command;

/// Every entry of a zip, read with Python's zipfile (not our reader): name → bytes, plus
/// whether all entries are Stored and the name of the last one.
fn zip_entries(path: &std::path::Path) -> (HashMap<String, Vec<u8>>, bool, String) {
    let script = "import sys, zipfile, json, base64\nz = zipfile.ZipFile(sys.argv[1])\nnames = [i.filename for i in z.infolist()]\nassert len(names) == len(set(names)), 'duplicate names'\nprint(json.dumps({'stored': all(i.compress_type == 0 for i in z.infolist()), 'last': names[-1], 'entries': {n: base64.b64encode(z.read(n)).decode() for n in names}}))";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    use base64::Engine as _;
    let entries = v["entries"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, b)| {
            (
                k.clone(),
                base64::engine::general_purpose::STANDARD
                    .decode(b.as_str().unwrap())
                    .unwrap(),
            )
        })
        .collect();
    (
        entries,
        v["stored"].as_bool().unwrap(),
        v["last"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn save_writes_a_hangar_archive_every_tool_can_read() {
    let src = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let multi = MultiArch::build(1400, 200_000);
    sp.push_index("test/multi", "v1", &multi.index, &multi.children())
        .await;
    let docker = images::image(
        Format::Docker,
        Platform::new("linux", "amd64", None),
        &[images::layer(Format::Docker, 1401, 5000)],
    );
    sp.push_image("test/docker", Some("2"), &docker).await;
    let env = Env::new();
    env.write(
        "list.txt",
        &format!(
            "{0}/test/multi:v1\n{0}/test/missing:1\n{0}/test/docker:2\n",
            src.addr
        ),
    );
    let run = env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "out.zip",
        "--tls-verify=false",
        "-j",
        "2",
    ]);
    assert_eq!(run.code, 1, "{}", run.output());
    assert_eq!(
        std::fs::read_to_string(env.path("save-failed.txt")).unwrap(),
        format!("{}/test/missing:1\n", src.addr)
    );

    let zip = env.path("out.zip");
    let unzip = Command::new("unzip").arg("-t").arg(&zip).output().unwrap();
    assert!(
        unzip.status.success(),
        "{}",
        String::from_utf8_lossy(&unzip.stdout)
    );
    let (entries, stored, last) = zip_entries(&zip);
    assert!(stored, "every entry is Stored");
    assert_eq!(last, "index.json", "the index is the last entry");

    let index: serde_json::Value = serde_json::from_slice(&entries["index.json"]).unwrap();
    assert_eq!(index["version"], "v1.2.0");
    let list = index["list"].as_array().unwrap();
    assert_eq!(list.len(), 2, "the failed image is not listed");
    assert_eq!(list[0]["source"], format!("{}/test/multi", src.addr));
    assert_eq!(list[0]["tag"], "v1");
    assert_eq!(
        list[0]["archList"],
        serde_json::json!(["amd64", "arm64", "unknown"])
    );
    let specs = list[0]["images"].as_array().unwrap();
    let digests: Vec<&str> = specs
        .iter()
        .map(|s| s["digest"].as_str().unwrap())
        .collect();
    let mut want = vec![
        multi.amd64.manifest.digest.as_str(),
        multi.arm64.manifest.digest.as_str(),
    ];
    want.extend(
        multi
            .attestations
            .iter()
            .map(|a| a.manifest.digest.as_str()),
    );
    assert_eq!(
        digests, want,
        "amd64, arm64 and their attestations; arm/v7 filtered out"
    );
    assert_eq!(specs[1]["variant"], "v8");
    assert_eq!(
        specs[2]["annotations"]["vnd.docker.reference.type"],
        "attestation-manifest"
    );
    assert_eq!(
        list[1]["images"][0]["mediaType"],
        images::DOCKER_MANIFEST,
        "docker v2s2 stored as is"
    );

    // Every platform: its layout, its manifest bytes, its config and layers, each named by digest.
    for spec in specs.iter().chain(list[1]["images"].as_array().unwrap()) {
        let digest = spec["digest"].as_str().unwrap();
        let hex = digest.trim_start_matches("sha256:");
        let layout: serde_json::Value =
            serde_json::from_slice(&entries[&format!("{hex}/index.json")]).unwrap();
        assert_eq!(layout["manifests"][0]["digest"], digest);
        assert_eq!(
            entries[&format!("{hex}/oci-layout")],
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()
        );
        let blobs = std::iter::once(digest)
            .chain(std::iter::once(spec["config"].as_str().unwrap()))
            .chain(
                spec["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap()),
            );
        for blob in blobs {
            let data = &entries[&format!("share/sha256/{}", blob.trim_start_matches("sha256:"))];
            assert_eq!(sha256(data), blob, "blob content matches its name");
        }
    }
    assert!(!entries.contains_key(&format!(
        "share/sha256/{}",
        multi.armv7.manifest.digest.trim_start_matches("sha256:")
    )));
    // Each blob once: the zip has no duplicate names (checked above), the base layer the
    // platforms share is there, and the file is no bigger than its blobs plus small entries.
    let shared = multi.amd64.layers[0]
        .digest
        .trim_start_matches("sha256:")
        .to_string();
    assert!(entries.contains_key(&format!("share/sha256/{shared}")));
    let mut f = std::fs::File::open(&zip).unwrap();
    let mut raw = Vec::new();
    f.read_to_end(&mut raw).unwrap();
    let blob_bytes: usize = entries
        .iter()
        .filter(|(k, _)| k.starts_with("share/"))
        .map(|(_, v)| v.len())
        .sum();
    assert!(
        raw.len() < blob_bytes + 64 * 1024,
        "no blob stored twice: archive {} bytes, blobs {blob_bytes}",
        raw.len()
    );
}

/// Pushes `count` multi-arch images (`test/app<N>:v1`) and writes them as list.txt.
async fn seed_images(src: &RegistryServer, env: &Env, count: u64, layer_size: usize) {
    let sp = Pusher::new(src);
    let mut list = String::new();
    for n in 0..count {
        let multi = MultiArch::build(2000 + n, layer_size);
        sp.push_index(
            &format!("test/app{n}"),
            "v1",
            &multi.index,
            &multi.children(),
        )
        .await;
        list.push_str(&format!("{}/test/app{n}:v1\n", src.addr));
    }
    env.write("list.txt", &list);
}

fn save_args(archive: &str) -> Vec<&str> {
    vec![
        "save",
        "-f",
        "list.txt",
        "-d",
        archive,
        "--tls-verify=false",
        "-j",
        "4",
        "-y",
    ]
}

/// The index list and every entry but the index, as an uninterrupted save must produce them.
fn contents(path: &std::path::Path) -> (serde_json::Value, HashMap<String, Vec<u8>>) {
    let (mut entries, stored, last) = zip_entries(path);
    assert!(stored);
    assert_eq!(last, "index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&entries.remove("index.json").unwrap()).unwrap();
    (index["list"].clone(), entries)
}

/// An archive finished after interruptions equals the uninterrupted reference: the same
/// index list, the same entries with the same bytes, a valid zip, no journal left, and each
/// blob stored once (no gaps of abandoned work).
fn assert_same_as_reference(env: &Env, reference: &std::path::Path, got: &std::path::Path) {
    assert!(!hangar_tests::hangar::journal_of(got).exists());
    let unzip = Command::new("unzip").arg("-tq").arg(got).output().unwrap();
    assert!(
        unzip.status.success(),
        "{}",
        String::from_utf8_lossy(&unzip.stdout)
    );
    let (want_list, want_entries) = contents(reference);
    let (got_list, got_entries) = contents(got);
    assert_eq!(got_list, want_list, "same index list");
    let mut want_names: Vec<&String> = want_entries.keys().collect();
    let mut got_names: Vec<&String> = got_entries.keys().collect();
    want_names.sort();
    got_names.sort();
    assert_eq!(got_names, want_names, "same entries");
    for (name, bytes) in &want_entries {
        assert!(got_entries[name] == *bytes, "{name} has the same bytes");
    }
    let size = std::fs::metadata(got).unwrap().len();
    let want = std::fs::metadata(reference).unwrap().len();
    assert!(size < want + want / 20, "{size} vs {want}");
    let _ = env;
}

/// kill -9 at random points of a save, re-running it each time: every re-run resumes the
/// interrupted archive, and the finished archive equals an uninterrupted save. Kill points
/// are random fractions of the work still left (time alone lands before the start or after
/// the end too often on a loaded machine); once little is left the save is let finish,
/// checked, and a new one starts, until 12 kills are done.
#[tokio::test(flavor = "multi_thread")]
async fn a_save_killed_at_random_points_resumes_to_the_same_archive() {
    let src = RegistryServer::plain();
    let env = Env::new();
    seed_images(&src, &env, 8, 1_500_000).await;
    env.run(&save_args("reference.zip")).ok();
    let reference = std::fs::metadata(env.path("reference.zip")).unwrap().len();
    let seed: u64 = std::env::var("HANGAR_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill points seeded with HANGAR_KILL_SEED={seed}");
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let out = env.path("out.zip");
    let size_of = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (mut kills, mut should_resume, mut resumed, mut continued, mut finished) = (0, 0, 0, 0, 0);
    while kills < 12 {
        let now = size_of(&out);
        if now > reference * 9 / 10 {
            let last = env.run(&save_args("out.zip")).ok().output();
            assert!(last.contains("Resuming interrupted archive"), "{last}");
            assert_same_as_reference(&env, &env.path("reference.zip"), &out);
            std::fs::remove_file(&out).unwrap();
            finished += 1;
            continue;
        }
        let target = now + (reference - now) * (10 + next() % 80) / 100;
        let mut child = env.spawn(&save_args("out.zip"));
        while size_of(&out) < target && child.try_wait().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        if child.try_wait().unwrap().is_some() {
            // It finished first: check it and start over.
            assert_same_as_reference(&env, &env.path("reference.zip"), &out);
            std::fs::remove_file(&out).unwrap();
            continue;
        }
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if now > 0 {
            should_resume += 1;
            resumed += usize::from(stderr.contains("Resuming interrupted archive"));
        }
        continued += usize::from(stderr.contains("in place: fetched the remaining"));
        kills += 1;
    }
    let last = env.run(&save_args("out.zip")).ok().output();
    assert!(last.contains("Resuming interrupted archive"), "{last}");
    assert_same_as_reference(&env, &env.path("reference.zip"), &out);
    eprintln!(
        "{kills} kills, {resumed} of {should_resume} re-runs resumed, {continued} continued a cut entry, {finished} saves finished after kills"
    );
    assert_eq!(
        resumed, should_resume,
        "every re-run of an interrupted archive resumes it"
    );
}

/// sync appends without rewriting: the old bytes stay as they were, a re-synced image is
/// replaced in the index (not listed twice), the creation time stays, `updated` is set, and
/// save/sync validate agree with what is in the archive.
#[tokio::test(flavor = "multi_thread")]
async fn sync_appends_in_place_and_validate_checks_the_archive() {
    let src = RegistryServer::plain();
    let env = Env::new();
    seed_images(&src, &env, 3, 300_000).await;
    let all = std::fs::read_to_string(env.path("list.txt")).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    env.write("first.txt", &format!("{}\n{}\n", lines[0], lines[1]));
    env.write("second.txt", &format!("{}\n{}\n", lines[1], lines[2]));
    env.run(&[
        "save",
        "-f",
        "first.txt",
        "-d",
        "a.zip",
        "--tls-verify=false",
    ])
    .ok();
    let before = std::fs::read(env.path("a.zip")).unwrap();
    let (before_list, before_entries) = contents(&env.path("a.zip"));
    let before_index: serde_json::Value =
        serde_json::from_slice(&zip_entries(&env.path("a.zip")).0["index.json"]).unwrap();

    // Validate before: the third image is not there yet.
    let check = env.run(&[
        "sync",
        "validate",
        "-f",
        "second.txt",
        "-d",
        "a.zip",
        "--tls-verify=false",
    ]);
    assert_eq!(check.code, 1, "{}", check.output());
    assert!(
        check.output().contains(&format!(
            "FAILED: [{}]: not listed in the archive index",
            lines[2]
        )),
        "{}",
        check.output()
    );
    assert_eq!(
        std::fs::read_to_string(env.path("sync-failed.txt")).unwrap(),
        format!("{}\n", lines[2])
    );

    let missing = env.run(&[
        "sync",
        "-f",
        "second.txt",
        "-d",
        "nope.zip",
        "--tls-verify=false",
    ]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.output().contains("failed to stat \"nope.zip\""),
        "{}",
        missing.output()
    );

    env.run(&[
        "sync",
        "-f",
        "second.txt",
        "-d",
        "a.zip",
        "--tls-verify=false",
    ])
    .ok();
    let after = std::fs::read(env.path("a.zip")).unwrap();
    // Everything before the old index entry is untouched (entries are only appended).
    let (entries, _, _) = zip_entries(&env.path("a.zip"));
    let index: serde_json::Value = serde_json::from_slice(&entries["index.json"]).unwrap();
    let first_blob_bytes = before_entries.values().map(|v| v.len()).sum::<usize>();
    assert!(after.len() > before.len());
    assert_eq!(
        after[..first_blob_bytes / 2],
        before[..first_blob_bytes / 2]
    );
    let sources: Vec<String> = index["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["source"].as_str().unwrap(),
                i["tag"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(sources, lines, "each image once, in first-seen order");
    assert_eq!(index["list"][0], before_list[0]);
    assert_eq!(index["time"], before_index["time"], "creation time kept");
    assert!(index["updated"].as_str().is_some_and(|u| u.ends_with('Z')));
    for (name, bytes) in &before_entries {
        assert!(entries[name] == *bytes, "{name} unchanged");
    }
    let unzip = Command::new("unzip")
        .arg("-tq")
        .arg(env.path("a.zip"))
        .output()
        .unwrap();
    assert!(unzip.status.success());

    let pass = env.run(&[
        "save",
        "validate",
        "-f",
        "list.txt",
        "-d",
        "a.zip",
        "--tls-verify=false",
    ]);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(
        pass.output().matches("PASS: [").count(),
        3,
        "{}",
        pass.output()
    );
}

/// A full disk (the archive is /dev/full, where every write fails with ENOSPC): each image
/// fails with one line naming the entry and the cause, nothing panics, the run exits 1.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_fails_with_the_entry_named() {
    let src = RegistryServer::plain();
    let env = Env::new();
    seed_images(&src, &env, 2, 1_200_000).await;
    std::os::unix::fs::symlink("/dev/full", env.path("full.zip")).unwrap();
    let run = env.run(&save_args("full.zip"));
    let output = run.output();
    assert_eq!(run.code, 1, "{output}");
    assert!(!output.contains("panicked"), "{output}");
    assert!(
        output.contains("entry share/sha256/") && output.contains("No space left on device"),
        "{output}"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("save-failed.txt"))
            .unwrap()
            .lines()
            .count(),
        2,
        "{output}"
    );
}

/// A kill in the middle of a large layer keeps what was written: the re-run continues that
/// entry with a ranged request (fetching only the rest) and the archive equals an
/// uninterrupted one.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_mid_layer_continues_the_layer_in_place() {
    let src = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let big = images::single(7100, 24 << 20);
    sp.push_image("test/big", Some("1"), &big).await;
    let env = Env::new();
    env.write("list.txt", &format!("{}/test/big:1\n", src.addr));
    env.run(&save_args("reference.zip")).ok();
    let mut child = env.spawn(&save_args("out.zip"));
    let out = env.path("out.zip");
    let started = std::time::Instant::now();
    while std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) < 8 << 20 {
        assert!(
            started.elapsed().as_secs() < 30,
            "the save never got 8 MiB in"
        );
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let kept = std::fs::metadata(&out).unwrap().len();
    let rerun = env.run(&save_args("out.zip")).ok().output();
    let fetched: u64 = rerun
        .split("fetched the remaining ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the layer was not continued: {rerun}"));
    assert!(
        fetched + kept - (1 << 20) <= big.layers[0].data.len() as u64 + 4096,
        "only the rest was fetched: {fetched} after {kept}"
    );
    let (want_list, want_entries) = contents(&env.path("reference.zip"));
    let (got_list, got_entries) = contents(&out);
    assert_eq!(got_list, want_list);
    assert_eq!(got_entries, want_entries);
}

/// A schema1 source is converted while saved (as Hangar does): real diff_ids computed while
/// the layers stream into the archive, a v2s2 manifest and config stored beside them.
#[tokio::test(flavor = "multi_thread")]
async fn schema1_images_are_converted_when_saved() {
    let (plain, s1) = (RegistryServer::plain(), RegistryServer::schema1());
    let layers = [
        images::layer(Format::Docker, 910, 20_000),
        images::layer(Format::Docker, 911, 30_000),
    ];
    // skopeo (the peer client) writes a signed schema1 manifest into the schema1 registry.
    seed_schema1(&plain, &s1, &layers).await;
    let env = Env::new();
    env.write("list.txt", &format!("{}/legacy/app:s1\n", s1.addr));
    env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "s1.zip",
        "--tls-verify=false",
    ])
    .ok();
    let (entries, _, _) = zip_entries(&env.path("s1.zip"));
    let index: serde_json::Value = serde_json::from_slice(&entries["index.json"]).unwrap();
    let spec = &index["list"][0]["images"][0];
    assert_eq!(spec["mediaType"], images::DOCKER_MANIFEST);
    assert_eq!(spec["arch"], "amd64");
    let blob = |d: &serde_json::Value| {
        &entries[&format!(
            "share/sha256/{}",
            d.as_str().unwrap().trim_start_matches("sha256:")
        )]
    };
    let config: serde_json::Value = serde_json::from_slice(blob(&spec["config"])).unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!([layers[0].diff_id, layers[1].diff_id])
    );
    assert_eq!(
        spec["layers"],
        serde_json::json!([layers[0].blob.digest, layers[1].blob.digest])
    );
    assert_eq!(
        sha256(blob(&spec["digest"])),
        spec["digest"].as_str().unwrap()
    );
    assert_eq!(env.run(&["archive", "verify", "s1.zip"]).code, 0);
    let validate = env.run(&[
        "save",
        "validate",
        "-f",
        "list.txt",
        "-d",
        "s1.zip",
        "--tls-verify=false",
    ]);
    assert_eq!(validate.code, 0, "{}", validate.output());
}

/// The entry names of an archive (read with Python's zipfile).
fn entry_names(path: &std::path::Path) -> Vec<String> {
    zip_entries(path).0.into_keys().collect()
}

/// The blob GETs a proxy saw (`sha256:HEX` of each).
fn blob_gets(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .log()
        .iter()
        .filter(|l| l.starts_with("GET ") && l.contains("/blobs/sha256:"))
        .filter_map(|l| l.split("/blobs/").nth(1))
        .map(|d| d.split('?').next().unwrap_or(d).to_string())
        .collect()
}

/// What a resumed save must not fetch again: the blobs the stopped save had finished.
fn assert_nothing_refetched(before: &[String], fetched_again: &[String]) {
    for name in before {
        if let Some(hex) = name.strip_prefix("share/sha256/") {
            let digest = format!("sha256:{hex}");
            assert!(
                !fetched_again.contains(&digest),
                "{digest} was finished before the stop and fetched again"
            );
        }
    }
}

/// A save stopped by Ctrl-C (SIGINT) in the middle of a layer leaves a valid zip, usable as a
/// partial archive, with a checkpoint beside it; the same command (no -y: it must not ask to
/// overwrite) resumes it without fetching anything that was finished, and the result equals
/// an uninterrupted save, with under 1% of dead space. SIGTERM does the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_save_stopped_by_a_signal_resumes_to_the_same_archive() {
    for (signal, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let src = RegistryServer::plain();
        let proxy = FaultProxy::start(&src.addr);
        let env = Env::new();
        let sp = Pusher::new(&src);
        let mut list = String::new();
        let mut layers = Vec::new();
        for n in 0..4u64 {
            let multi = MultiArch::build(9400 + n * 10, 1_200_000);
            sp.push_index(
                &format!("test/app{n}"),
                "v1",
                &multi.index,
                &multi.children(),
            )
            .await;
            layers.push(multi.amd64.layers[1].digest.clone());
            list.push_str(&format!("{}/test/app{n}:v1\n", proxy.addr));
        }
        env.write("list.txt", &list);
        let args = |archive: &'static str| {
            vec![
                "save",
                "-f",
                "list.txt",
                "-d",
                archive,
                "--tls-verify=false",
                "-j",
                "1",
            ]
        };
        env.run(&args("reference.zip")).ok();
        // The third image's own layer arrives slowly, so the signal lands in the middle of it.
        proxy.clear_log();
        proxy.add(Rule {
            method: "GET",
            path_contains: format!("/blobs/{}", layers[2]),
            fault: Fault::Throttle(std::time::Duration::from_millis(30)),
            times: 1,
        });
        let mut child = env.spawn(&args("out.zip"));
        let started = std::time::Instant::now();
        while !proxy
            .log()
            .iter()
            .any(|l| l.contains(&format!("/blobs/{}", layers[2])))
        {
            assert!(
                started.elapsed().as_secs() < 60,
                "the save never reached the slow layer"
            );
            assert!(child.try_wait().unwrap().is_none(), "the save ended early");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        unsafe { libc::kill(child.id() as i32, signal) };
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(130), "{name}: {stderr}");
        assert!(stderr.contains("partial archive"), "{name}: {stderr}");
        let out = env.path("out.zip");
        // A valid zip with the finished images in its index, marked as resumable.
        let unzip = Command::new("unzip").arg("-tq").arg(&out).output().unwrap();
        assert!(
            unzip.status.success(),
            "{name}: the stopped archive is a valid zip"
        );
        let checkpoint = std::fs::read_to_string(hangar_tests::hangar::journal_of(&out)).unwrap();
        assert!(checkpoint.contains("\"readable\":true"), "{checkpoint}");
        let (partial_list, _) = contents(&out);
        let saved = partial_list.as_array().unwrap().len();
        assert!(
            (1..4).contains(&saved),
            "{name}: {saved} images in the partial index"
        );
        let listed = env.run(&["archive", "ls", "-f", "out.zip"]);
        listed.ok();
        assert!(listed.output().contains("test/app0"), "{}", listed.output());
        let before = entry_names(&out);
        assert!(
            !before.contains(&format!(
                "share/sha256/{}",
                layers[2].trim_start_matches("sha256:")
            )),
            "the interrupted layer's bytes were dropped"
        );
        proxy.clear_log();
        let rerun = env.run(&args("out.zip"));
        rerun.ok();
        assert!(
            rerun.output().contains("Resuming interrupted archive"),
            "{}",
            rerun.output()
        );
        assert_nothing_refetched(&before, &blob_gets(&proxy));
        assert_same_as_reference(&env, &env.path("reference.zip"), &out);
        let (size, want) = (
            std::fs::metadata(&out).unwrap().len(),
            std::fs::metadata(env.path("reference.zip")).unwrap().len(),
        );
        assert!(
            size <= want + want / 100,
            "{name}: dead space: {size} vs {want}"
        );
        env.run(&["archive", "verify", "out.zip"]).ok();
    }
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: std::path::PathBuf, bytes: u64) -> SmallDisk {
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs on {}", dir.display());
        SmallDisk(dir)
    }

    fn grow(&self, bytes: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A save that fills its disk stops (one line naming the cause), closes the archive as a
/// partial one, and once there is room the same command resumes it: nothing finished is
/// fetched again, and the result equals an uninterrupted save.
#[tokio::test(flavor = "multi_thread")]
async fn a_save_stopped_by_a_full_disk_resumes_once_there_is_room() {
    if !hangar_tests::running_as_root(
        "a_save_stopped_by_a_full_disk_resumes_once_there_is_room",
        "mount",
    ) {
        return;
    }
    let src = RegistryServer::plain();
    let proxy = FaultProxy::start(&src.addr);
    let env = Env::new();
    let sp = Pusher::new(&src);
    let mut list = String::new();
    for n in 0..5u64 {
        let multi = MultiArch::build(9500 + n * 10, 1_000_000);
        sp.push_index(
            &format!("test/app{n}"),
            "v1",
            &multi.index,
            &multi.children(),
        )
        .await;
        list.push_str(&format!("{}/test/app{n}:v1\n", proxy.addr));
    }
    env.write("list.txt", &list);
    let args = |archive: &str| -> Vec<String> {
        [
            "save",
            "-f",
            "list.txt",
            "-d",
            archive,
            "--tls-verify=false",
            "-j",
            "2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |archive: &str| {
        let owned = args(archive);
        env.run(&owned.iter().map(String::as_str).collect::<Vec<_>>())
    };
    run("reference.zip").ok();
    let reference = std::fs::metadata(env.path("reference.zip")).unwrap().len();
    let disk = SmallDisk::mount(env.path("disk"), reference / 2);
    let out = env.path("disk/out.zip");
    proxy.clear_log();
    let full = run(out.to_str().unwrap());
    let output = full.output();
    assert_eq!(full.code, 1, "{output}");
    assert!(!output.contains("panicked"), "{output}");
    assert!(
        output.contains("No space left on device") && output.contains("stopping"),
        "{output}"
    );
    assert!(
        std::fs::read_to_string(env.path("save-failed.txt"))
            .unwrap()
            .lines()
            .count()
            >= 1
    );
    let before = entry_names(&out);
    assert!(
        before.iter().any(|n| n.starts_with("share/sha256/")),
        "{before:?}"
    );
    disk.grow(reference * 2);
    proxy.clear_log();
    let resumed = run(out.to_str().unwrap());
    resumed.ok();
    assert!(
        resumed.output().contains("Resuming interrupted archive"),
        "{}",
        resumed.output()
    );
    assert_nothing_refetched(&before, &blob_gets(&proxy));
    assert_same_as_reference(&env, &env.path("reference.zip"), &out);
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(
        size <= reference + reference / 100,
        "dead space: {size} vs {reference}"
    );
    env.run(&["archive", "verify", out.to_str().unwrap()]).ok();
}
