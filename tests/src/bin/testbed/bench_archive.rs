//! The archive benchmark behind `bench/archive.sh`: save (registry → archive) and load
//! (archive → registry) of the mirror benchmark's dataset, hangar and skopeo side by side in
//! one run, plus the disk limit (`cat` of the same blob bytes into one file), the bytes each
//! tool writes, and how much a resume after `kill -9` fetches again.
//!
//! hangar: `save -j 8 --arch "" --os ""` into one zip, `load -j 8` from it. skopeo: `copy --all
//! docker://… oci-archive:…` per image (8 processes at a time), and back with `copy --all
//! oci-archive:… docker://…`.

use super::bench::{
    Measured, cpu_of, dir_bytes, env_usize, median, output_of, run_batch, seed_dataset, today,
    walls, write_list,
};
use hangar_tests::registry::RegistryServer;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn hangar(args: &[&str]) -> Command {
    let mut c = Command::new(hangar_tests::hangar::bin());
    c.args(args);
    c
}

fn save(list: &Path, archive: &Path) -> Command {
    let mut c = hangar(&["save", "-f"]);
    c.arg(list).arg("-d").arg(archive).args([
        "--tls-verify=false",
        "-j",
        "8",
        "--arch",
        "",
        "--os",
        "",
        "-y",
        "-o",
    ]);
    c.arg(list.with_extension("save-failed"));
    c
}

fn load(archive: &Path, dst: &str, failed: &Path) -> Command {
    let mut c = hangar(&["load", "-s"]);
    c.arg(archive).args([
        "-d",
        dst,
        "--tls-verify=false",
        "-j",
        "8",
        "--arch",
        "",
        "--os",
        "",
        "-o",
    ]);
    c.arg(failed);
    c
}

fn skopeo(from: String, to: String) -> Command {
    let mut c = Command::new("skopeo");
    c.args([
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--quiet",
    ])
    .arg(from)
    .arg(to);
    c
}

/// Lets the machine settle before a timed phase: right after a burst of writes to tmpfs (the
/// previous phase's gigabyte), the kernel's page work is charged to whatever runs next; by
/// hand, a load started right after writing 3 GB took 6.7 s, the same load a moment later
/// 4.1 s.
fn settle() {
    let _ = Command::new("sync").status();
    std::thread::sleep(Duration::from_secs(3));
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Bytes the kill left in the archive and what the re-run reported.
struct Resume {
    at_fraction: f64,
    written_before_kill: u64,
    dropped: u64,
    continued_fetch: u64,
    rerun: Duration,
}

/// Starts a save, kills it after `delay`, then re-runs it and reads what it kept.
fn resume_after_kill(list: &Path, archive: &Path, delay: Duration, fraction: f64) -> Resume {
    let _ = std::fs::remove_file(archive);
    let mut child = save(list, archive)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let written_before_kill = file_size(archive);
    let started = std::time::Instant::now();
    let out = save(list, archive).output().unwrap();
    let rerun = started.elapsed();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "resumed save failed: {log}");
    let number_after = |marker: &str| -> u64 {
        log.split(marker)
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Resume {
        at_fraction: fraction,
        written_before_kill,
        dropped: number_after("dropped "),
        continued_fetch: number_after("fetched the remaining "),
        rerun,
    }
}

pub async fn run() {
    let image_count = env_usize("HANGAR_BENCH_IMAGES", 31);
    let src = RegistryServer::plain();
    let names = seed_dataset(&src, image_count, true).await;
    let dataset = dir_bytes(&src.dir.path().join("data/docker/registry/v2/blobs"));
    eprintln!(
        "dataset: {} images, {:.0} MiB of blobs",
        names.len(),
        dataset as f64 / 1048576.0
    );
    // Archives go to disk (where operators keep them: a USB disk), registries stay on tmpfs:
    // gigabytes of archives in tmpfs slow the registries' own tmpfs writes (measured by hand:
    // a load took 4.0 s, and 6.8 s with 3 GB more in tmpfs).
    let archives = std::env::var("HANGAR_BENCH_ARCHIVES").unwrap_or_else(|_| "target".into());
    std::fs::create_dir_all(&archives).unwrap();
    let work = tempfile::tempdir_in(&archives).unwrap();
    let list = write_list(work.path(), &src, &names);
    let blob_files: Vec<std::path::PathBuf> =
        walk(&src.dir.path().join("data/docker/registry/v2/blobs"));

    let reps = env_usize("HANGAR_BENCH_REPS", 3).max(1);
    let (mut hs, mut ss, mut cats, mut hl, mut sl) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut archive_size, mut skopeo_size) = (0, 0);
    for rep in 1..=reps {
        eprintln!(
            "repetition {rep}/{reps}: save hangar, save skopeo, cat, load hangar, load skopeo ..."
        );
        let h_zip = work.path().join("hangar.zip");
        let s_dir = work.path().join("skopeo");
        let _ = std::fs::remove_file(&h_zip);
        let _ = std::fs::remove_dir_all(&s_dir);
        std::fs::create_dir_all(&s_dir).unwrap();
        let timed = |registry: &RegistryServer, commands: Vec<Command>| {
            settle();
            let before = cpu_of(registry.pid());
            let mut m = run_batch(commands, 8);
            m.registries_cpu = cpu_of(registry.pid()) - before;
            m
        };
        let skopeo_saves = || {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    skopeo(
                        format!("docker://{}/{n}", src.addr),
                        format!("oci-archive:{}/{i}.tar", s_dir.display()),
                    )
                })
                .collect::<Vec<_>>()
        };
        // Who goes first alternates between repetitions: the second run of a pair finds more
        // of tmpfs in use, which measurably slows the registry's writes.
        let hangar_first = rep % 2 == 1;
        let (h_save, s_save) = if hangar_first {
            let h = timed(&src, vec![save(&list, &h_zip)]);
            (h, timed(&src, skopeo_saves()))
        } else {
            let s = timed(&src, skopeo_saves());
            (timed(&src, vec![save(&list, &h_zip)]), s)
        };
        // The disk limit: the same blob bytes into one file, by cat.
        let cat_out = work.path().join("cat.bin");
        let mut cat = Command::new("cat");
        cat.args(&blob_files)
            .stdout(std::fs::File::create(&cat_out).unwrap());
        settle();
        let started = std::time::Instant::now();
        assert!(cat.status().unwrap().success());
        let cat_wall = started.elapsed();
        let _ = std::fs::remove_file(&cat_out);
        archive_size = file_size(&h_zip);
        skopeo_size = dir_bytes(&s_dir);
        let (dst_h, dst_s) = (RegistryServer::plain(), RegistryServer::plain());
        let hangar_load = || {
            timed(
                &dst_h,
                vec![load(
                    &h_zip,
                    &dst_h.addr,
                    &work.path().join("load-failed.txt"),
                )],
            )
        };
        let skopeo_load = || {
            timed(
                &dst_s,
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        skopeo(
                            format!("oci-archive:{}/{i}.tar", s_dir.display()),
                            format!("docker://{}/{n}", dst_s.addr),
                        )
                    })
                    .collect(),
            )
        };
        let (h_load, s_load) = if hangar_first {
            let h = hangar_load();
            (h, skopeo_load())
        } else {
            let s = skopeo_load();
            (hangar_load(), s)
        };
        assert!(
            h_save.ok && s_save.ok && h_load.ok && s_load.ok,
            "a benchmark run failed"
        );
        let loaded_h = dir_bytes(&dst_h.dir.path().join("data/docker/registry/v2/blobs"));
        let loaded_s = dir_bytes(&dst_s.dir.path().join("data/docker/registry/v2/blobs"));
        // The top-level indexes differ (hangar rebuilds them from the archive index, as
        // Hangar does); every other blob is the same, so the totals agree within a few KiB.
        let slack = names.len() as u64 * 4096;
        assert!(
            loaded_h.abs_diff(dataset) < slack,
            "hangar loaded every blob: {loaded_h} of {dataset}"
        );
        assert!(
            loaded_s.abs_diff(dataset) < slack,
            "skopeo loaded every blob: {loaded_s} of {dataset}"
        );
        eprintln!(
            "  save {:.2}s / {:.2}s, cat {:.2}s, load {:.2}s / {:.2}s",
            h_save.wall.as_secs_f64(),
            s_save.wall.as_secs_f64(),
            cat_wall.as_secs_f64(),
            h_load.wall.as_secs_f64(),
            s_load.wall.as_secs_f64()
        );
        hs.push(h_save);
        ss.push(s_save);
        cats.push(cat_wall);
        hl.push(h_load);
        sl.push(s_load);
    }
    let raw_line = format!(
        "Wall times of each repetition (s): hangar save {}; skopeo save {}; hangar load {}; skopeo load {}.",
        walls(&hs),
        walls(&ss),
        walls(&hl),
        walls(&sl)
    );
    cats.sort();
    let cat_wall = cats[cats.len() / 2];
    let (h_save, s_save, h_load, s_load) = (median(hs), median(ss), median(hl), median(sl));

    // Resume: kill the save at a quarter, half and three quarters of its wall time.
    let resumes: Vec<Resume> = [0.25, 0.5, 0.75]
        .iter()
        .map(|&f| {
            resume_after_kill(
                &list,
                &work.path().join("resume.zip"),
                h_save.wall.mul_f64(f),
                f,
            )
        })
        .collect();

    let mb = dataset as f64 / 1e6;
    let row = |tool: &str, run: &str, m: &Measured| {
        format!(
            "| {tool} | {run} | {:.2} | {:.0} | {:.2} | {:.2} | {:.1} | {:.0} |",
            m.wall.as_secs_f64(),
            mb / m.wall.as_secs_f64(),
            m.cpu.as_secs_f64(),
            m.registries_cpu.as_secs_f64(),
            m.peak_rss_kb as f64 / 1024.0,
            m.written as f64 / 1048576.0
        )
    };
    let resume_rows: Vec<String> = resumes
        .iter()
        .map(|r| {
            format!(
                "| {:.0}% | {:.0} | {:.1} | {:.1} | {:.2}% | {:.2} |",
                r.at_fraction * 100.0,
                r.written_before_kill as f64 / 1048576.0,
                r.dropped as f64 / 1048576.0,
                r.continued_fetch as f64 / 1048576.0,
                100.0 * r.dropped as f64 / r.written_before_kill.max(1) as f64,
                r.rerun.as_secs_f64()
            )
        })
        .collect();
    let worst_refetch = resumes
        .iter()
        .map(|r| 100.0 * r.dropped as f64 / r.written_before_kill.max(1) as f64)
        .fold(0.0, f64::max);
    let skopeo_version = output_of(Path::new("skopeo"), &["--version"]);
    let date = today();
    let report = format!(
        "## Archive: save and load\n\n\
         Measured by `bench/archive.sh` on {date}, {cores} cores: the mirror benchmark's dataset ({n} images, \
         {mib:.0} MiB of blobs, one 512 MiB layer) in a `docker-registry` 2.8 on 127.0.0.1; registries \
         on tmpfs, archives on the local disk (ext4 on a virtio disk, 1.3 GB/s with fsync). Median of {reps} repetitions; which tool goes first \
         alternates between repetitions, and every timed phase starts after `sync` and a 3 s pause (the \
         kernel's work after a gigabyte written to tmpfs is otherwise charged to the next phase).\n\n\
         hangar writes one zip (`save -j 8 --arch \"\" --os \"\"`, {zip:.0} MiB) and loads it back \
         (`load -j 8`) into an empty registry; skopeo writes one `oci-archive` per image \
         (`copy --all docker://… oci-archive:…`, 8 processes at a time, {tars:.0} MiB in all, shared \
         layers repeated per image) and copies each back. Both end with the same {mib:.0} MiB of blobs in their \
         destination. The disk limit is `cat` of the same blob files into one file: {cat:.2} s.\n\n\
         | tool | run | wall (s) | MB/s | CPU (s) | registry CPU (s) | peak RSS (MiB) | written (MiB) |\n\
         |---|---|---|---|---|---|---|---|\n{}\n{}\n{}\n{}\n\n\
         | measure | value | target |\n|---|---|---|\n\
         | save wall time, hangar / skopeo | {:.2} | ≤ 0.5 |\n\
         | load wall time, hangar / skopeo | {:.2} | ≤ 0.5 |\n\
         | save wall time, hangar / cat of the same bytes | {:.2} | – |\n\
         | bytes hangar wrote / archive size | {:.3} | ≤ 1.05 |\n\
         | hangar peak RSS (save, load) | {:.1} / {:.1} MiB | < 150 MiB |\n\
         | resume: bytes written before the kill and fetched again (worst of 3) | {worst_refetch:.2}% | < 5% |\n\n\
         Resume: `save` killed with SIGKILL at a fraction of its wall time, then run again.\n\n\
         | kill at | archive bytes at the kill (MiB) | dropped and fetched again (MiB) | cut entry continued: rest fetched (MiB) | fetched again / written | re-run wall (s) |\n\
         |---|---|---|---|---|---|\n{}\n\n\
         {raw_line}\n\n\
         Load is bound by the receiving registry, which hashes and writes every byte: it used \
         {:.1} s of CPU during hangar's {:.2} s load on 2 cores, hangar itself {:.1} s; the spread of \
         hangar's load times across repetitions follows the registry's CPU time, not hangar's. \
         \"written\" is what the tool's processes passed to write() (wchar in /proc/<pid>/io, journal and logs \
         included); for hangar it is the archive once, for skopeo the layout it stages and then the tar. CPU is \
         user + system time of the tool (wait4); registry CPU is what the registry serving (save) or receiving \
         (load) used meanwhile. {skopeo_version}.\n",
        row("hangar", "save", &h_save),
        row("skopeo", "save", &s_save),
        row("hangar", "load", &h_load),
        row("skopeo", "load", &s_load),
        h_save.wall.as_secs_f64() / s_save.wall.as_secs_f64(),
        h_load.wall.as_secs_f64() / s_load.wall.as_secs_f64(),
        h_save.wall.as_secs_f64() / cat_wall.as_secs_f64(),
        h_save.written as f64 / archive_size.max(1) as f64,
        h_save.peak_rss_kb as f64 / 1024.0,
        h_load.peak_rss_kb as f64 / 1024.0,
        resume_rows.join("\n"),
        h_load.registries_cpu.as_secs_f64(),
        h_load.wall.as_secs_f64(),
        h_load.cpu.as_secs_f64(),
        cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n = names.len(),
        mib = dataset as f64 / 1048576.0,
        zip = archive_size as f64 / 1048576.0,
        tars = skopeo_size as f64 / 1048576.0,
        cat = cat_wall.as_secs_f64(),
    );
    println!("{report}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else if path.file_name().is_some_and(|n| n == "data") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
