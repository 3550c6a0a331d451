//! The mirror benchmark: one dataset, fresh registries, hangar and skopeo side by side in one
//! run, results as ratios. Dataset: 31 multi-arch images (amd64, arm64/v8, arm/v7) sharing
//! a base layer per architecture, plus one image with a 512 MiB layer — about 1 GiB of
//! blobs. hangar runs `mirror -j 8 --arch "" --os ""` (every platform, like skopeo `--all`);
//! skopeo runs `copy --all` 8 processes at a time over the same list. Each tool gets its own
//! empty destination registry. Then both run again over the populated destination (no-op).

use hangar_tests::hangar::vm_hwm_kb;
use hangar_tests::images::{self, Format, Image, Platform};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const IMAGES: usize = 31;
const UNIQUE_LAYER: usize = 2_600_000;
const BASE_LAYER: usize = 10 << 20;
const BIG_LAYER: usize = 512 << 20;

pub(super) struct Measured {
    pub(super) wall: Duration,
    pub(super) peak_rss_kb: i64,
    /// User + system CPU time of the tool's processes (from wait4, exact per child).
    pub(super) cpu: Duration,
    /// CPU time the source and destination registries spent during the run.
    pub(super) registries_cpu: Duration,
    pub(super) ok: bool,
    /// Bytes the tool's processes handed to write() (wchar of /proc/<pid>/io, last sample).
    pub(super) written: u64,
}

/// Reaps `pid` if it has exited: its success and CPU time.
pub(super) fn reap(pid: u32) -> Option<(bool, Duration)> {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, libc::WNOHANG, &mut usage) };
    if r != pid as libc::pid_t {
        return None;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Some((ok, tv(usage.ru_utime) + tv(usage.ru_stime)))
}

/// Runs commands `parallel` at a time; wall time of the batch, the peak RSS of any one process.
// Children are reaped by `reap` (wait4, for their CPU time), which clippy cannot see.
#[allow(clippy::zombie_processes)]
pub(super) fn run_batch(commands: Vec<Command>, parallel: usize) -> Measured {
    let started = Instant::now();
    let mut pending: Vec<Command> = commands.into_iter().rev().collect();
    // stderr goes to a file, not a pipe: a long run's log would fill a pipe nobody reads
    // until the end, and the tool would stall on it.
    let mut running: Vec<(std::process::Child, std::fs::File)> = Vec::new();
    let mut peak = 0i64;
    let mut cpu = Duration::ZERO;
    let mut ok = true;
    let mut written_by = std::collections::HashMap::new();
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < parallel {
            let Some(mut c) = pending.pop() else { break };
            let log = tempfile::tempfile().expect("temporary file");
            let child = c
                .stdout(Stdio::null())
                .stderr(log.try_clone().expect("file handle"))
                .spawn()
                .expect("spawn");
            running.push((child, log));
        }
        for (child, _) in &running {
            peak = peak.max(vm_hwm_kb(child.id()).unwrap_or(0));
            if let Some(w) = wchar(child.id()) {
                written_by.insert(child.id(), w);
            }
        }
        let mut i = 0;
        while i < running.len() {
            match reap(running[i].0.id()) {
                Some((success, used)) => {
                    cpu += used;
                    if !success {
                        let mut err = String::new();
                        use std::io::{Read as _, Seek as _};
                        let log = &mut running[i].1;
                        let _ = log.rewind();
                        let _ = log.read_to_string(&mut err);
                        eprintln!("command failed: {}", err.lines().last().unwrap_or(""));
                        ok = false;
                    }
                    running.remove(i);
                }
                None => i += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Measured {
        wall: started.elapsed(),
        peak_rss_kb: peak,
        cpu,
        registries_cpu: Duration::ZERO,
        ok,
        written: written_by.values().sum(),
    }
}

/// Bytes a live process has passed to write() so far.
fn wchar(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// CPU time a live process has used so far (utime + stime from /proc/<pid>/stat).
pub(super) fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (in parentheses, may contain spaces) start at field 3
    // (state); utime and stime are fields 14 and 15. Some fields can be negative, so index
    // the raw fields rather than filtering numbers.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis((field(14) + field(15)) * 1000 / ticks)
}

/// The repetition with the median wall time.
pub(super) fn median(mut runs: Vec<Measured>) -> Measured {
    runs.sort_by_key(|m| m.wall);
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

fn hangar(list: &std::path::Path, dst: &str) -> Command {
    let mut c = Command::new(hangar_tests::hangar::bin());
    c.args(["mirror", "-f"]).arg(list).args([
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
    c.arg(list.with_extension("failed"));
    c
}

fn skopeo(images: &[String], src: &str, dst: &str) -> Vec<Command> {
    images
        .iter()
        .map(|name| {
            let mut c = Command::new("skopeo");
            c.args([
                "copy",
                "--all",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--quiet",
            ])
            .arg(format!("docker://{src}/{name}"))
            .arg(format!("docker://{dst}/{name}"));
            c
        })
        .collect()
}

pub(super) fn dir_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            let m = e.metadata().unwrap();
            total += if m.is_dir() {
                dir_bytes(&e.path())
            } else {
                m.len()
            };
        }
    }
    total
}

pub(super) fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub async fn run() {
    // Knobs for investigating one part of the dataset; the published table uses the defaults.
    let image_count = env_usize("HANGAR_BENCH_IMAGES", IMAGES);
    let with_big = env_usize("HANGAR_BENCH_BIG", 1) == 1;
    let src = RegistryServer::plain();
    let names = seed_dataset(&src, image_count, with_big).await;
    let dataset = dir_bytes(&src.dir.path().join("data/docker/registry/v2/blobs"));
    eprintln!(
        "dataset: {} images, {:.0} MiB of blobs",
        names.len(),
        dataset as f64 / 1048576.0
    );

    let work = tempfile::tempdir().unwrap();
    let list = write_list(work.path(), &src, &names);

    let (first_h, first_s) = (RegistryServer::plain(), RegistryServer::plain());
    if env_usize("HANGAR_BENCH_HOLD", 0) == 1 {
        // For profiling by hand: keep the seeded source and two empty destinations up.
        println!(
            "list={} src={} dst={} dst2={}",
            list.display(),
            src.addr,
            first_h.addr,
            first_s.addr
        );
        tokio::time::sleep(Duration::from_secs(900)).await;
        return;
    }
    // Fresh destinations per repetition; the median of each measure is reported.
    let reps = env_usize("HANGAR_BENCH_REPS", 5).max(1);
    let (mut h_cold_all, mut s_cold_all, mut h_noop_all, mut s_noop_all) =
        (vec![], vec![], vec![], vec![]);
    let mut copied_h = 0;
    for rep in 1..=reps {
        let (dst_h, dst_s) = if rep == 1 {
            (None, None)
        } else {
            (Some(RegistryServer::plain()), Some(RegistryServer::plain()))
        };
        let dst_h = dst_h.as_ref().unwrap_or(&first_h);
        let dst_s = dst_s.as_ref().unwrap_or(&first_s);
        eprintln!(
            "repetition {rep}/{reps}: cold hangar, cold skopeo, no-op hangar, no-op skopeo ..."
        );
        let timed = |dst: &RegistryServer, commands: Vec<Command>, parallel: usize| {
            let before = cpu_of(src.pid()) + cpu_of(dst.pid());
            let mut m = run_batch(commands, parallel);
            m.registries_cpu = cpu_of(src.pid()) + cpu_of(dst.pid()) - before;
            m
        };
        let h_cold = timed(dst_h, vec![hangar(&list, &dst_h.addr)], 1);
        let s_cold = timed(dst_s, skopeo(&names, &src.addr, &dst_s.addr), 8);
        let h_noop = run_batch(vec![hangar(&list, &dst_h.addr)], 1);
        let s_noop = run_batch(skopeo(&names, &src.addr, &dst_s.addr), 8);
        assert!(
            h_cold.ok && s_cold.ok && h_noop.ok && s_noop.ok,
            "a benchmark run failed"
        );
        copied_h = dir_bytes(&dst_h.dir.path().join("data/docker/registry/v2/blobs"));
        let copied_s = dir_bytes(&dst_s.dir.path().join("data/docker/registry/v2/blobs"));
        assert_eq!(copied_h, copied_s, "both tools must copy the same bytes");
        eprintln!(
            "  hangar {:.2}s / skopeo {:.2}s cold, {:.2}s / {:.2}s no-op",
            h_cold.wall.as_secs_f64(),
            s_cold.wall.as_secs_f64(),
            h_noop.wall.as_secs_f64(),
            s_noop.wall.as_secs_f64()
        );
        h_cold_all.push(h_cold);
        s_cold_all.push(s_cold);
        h_noop_all.push(h_noop);
        s_noop_all.push(s_noop);
    }
    let raw_line = format!(
        "Wall times of each repetition (s): hangar cold {}; skopeo cold {}; hangar no-op {}; skopeo no-op {}.",
        walls(&h_cold_all),
        walls(&s_cold_all),
        walls(&h_noop_all),
        walls(&s_noop_all)
    );
    let (h_cold, s_cold, h_noop, s_noop) = (
        median(h_cold_all),
        median(s_cold_all),
        median(h_noop_all),
        median(s_noop_all),
    );
    let mb = dataset as f64 / 1e6;
    let row = |tool: &str, run: &str, m: &Measured| {
        let cold = run == "cold";
        let rate = if cold {
            format!("{:.0}", mb / m.wall.as_secs_f64())
        } else {
            "–".into()
        };
        let registries = if cold {
            format!("{:.2}", m.registries_cpu.as_secs_f64())
        } else {
            "–".into()
        };
        format!(
            "| {tool} | {run} | {:.2} | {rate} | {:.2} | {registries} | {:.1} |",
            m.wall.as_secs_f64(),
            m.cpu.as_secs_f64(),
            m.peak_rss_kb as f64 / 1024.0
        )
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let skopeo_version = output_of(std::path::Path::new("skopeo"), &["--version"]);
    let hangar_version = output_of(&hangar_tests::hangar::bin(), &["version"]);
    let report = format!(
        "## Mirror: registry → registry\n\n\
         Measured by `bench/mirror.sh` on {date}, {cores} cores ({cpu}): one source and two destination \
         `docker-registry` 2.8 processes on 127.0.0.1 (one destination per tool, empty at the start of each \
         repetition), storage on tmpfs. Median of {reps} repetitions.\n\n\
         Dataset: {n} images, {mib:.0} MiB of blobs: {IMAGES} multi-arch OCI indexes (linux/amd64, linux/arm64/v8, \
         linux/arm/v7; a 10 MiB base layer per architecture shared by every image, two 2.5 MiB layers of its own \
         per platform) and one image with a 512 MiB layer. Both tools copy every platform \
         (`hangar mirror -j 8 --arch \"\" --os \"\"`; `skopeo copy --all`, 8 processes at a time) and end with the \
         same {copied:.0} MiB of blobs in their destination.\n\n\
         | tool | run | wall (s) | MB/s | CPU (s) | registries' CPU (s) | peak RSS (MiB) |\n|---|---|---|---|---|---|---|\n{}\n{}\n{}\n{}\n\n\
         | ratio (hangar / skopeo) | value | target |\n|---|---|---|\n\
         | cold wall time | {:.2} | ≤ 0.5 |\n| no-op re-run wall time | {:.2} | ≤ 0.1 |\n\
         | hangar peak RSS | {:.1} MiB | < 100 MiB |\n\n\
         {raw_line}\n\n\
         CPU is user + system time of the tool's own processes (wait4); registries' CPU is what the source and \
         destination registries used meanwhile (/proc/<pid>/stat). On 2 cores the registries' hashing and \
         writing bound the wall time of both tools; hangar's own share is small. hangar sends each blob shared by several images once per destination registry and mounts it into the other repositories, and plans so the largest image starts first; that, and its lower CPU use, is where the difference comes from. Open question: in every run of this script so far, hangar's second repetition was the slowest (6.5–7.2 s against 4.6–5.4 s for the others) while skopeo's were steady; the median reports the typical run, and the raw values are listed above. Peak RSS is the kernel's VmHWM of one \
         process, sampled every 5 ms (skopeo: the largest of its processes). \
         Versions: {hangar_version}; {skopeo_version}.\n",
        row("hangar", "cold", &h_cold),
        row("skopeo", "cold", &s_cold),
        row("hangar", "no-op", &h_noop),
        row("skopeo", "no-op", &s_noop),
        h_cold.wall.as_secs_f64() / s_cold.wall.as_secs_f64(),
        h_noop.wall.as_secs_f64() / s_noop.wall.as_secs_f64(),
        h_cold.peak_rss_kb.max(h_noop.peak_rss_kb) as f64 / 1024.0,
        date = today(),
        cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n = names.len(),
        mib = dataset as f64 / 1048576.0,
        copied = copied_h as f64 / 1048576.0,
    );
    println!("{report}");
}

/// Seeds `src` with the benchmark dataset; returns the `repo:tag` names.
pub(super) async fn seed_dataset(
    src: &RegistryServer,
    image_count: usize,
    with_big: bool,
) -> Vec<String> {
    let sp = Pusher::new(src);
    eprintln!(
        "seeding {IMAGES} multi-arch images and one 512 MiB layer image into {} ...",
        src.addr
    );
    let platforms = [
        Platform::new("linux", "amd64", None),
        Platform::new("linux", "arm64", Some("v8")),
        Platform::new("linux", "arm", Some("v7")),
    ];
    let bases: Vec<images::Layer> = (0..3)
        .map(|i| images::layer(Format::Oci, 10_000 + i, BASE_LAYER))
        .collect();
    let mut names = Vec::new();
    for n in 0..image_count {
        let children: Vec<Image> = platforms
            .iter()
            .enumerate()
            .map(|(p, platform)| {
                let seed = 20_000 + (n * 10 + p * 2) as u64;
                let layers = [
                    bases[p].clone(),
                    images::layer(Format::Oci, seed, UNIQUE_LAYER),
                    images::layer(Format::Oci, seed + 1, UNIQUE_LAYER),
                ];
                images::image(Format::Oci, platform.clone(), &layers)
            })
            .collect();
        let index = images::index(Format::Oci, &children);
        let repo = format!("bench/app-{n:02}");
        sp.push_index(&repo, "v1", &index, &children.iter().collect::<Vec<_>>())
            .await;
        names.push(format!("{repo}:v1"));
    }
    if with_big {
        let big = images::image(
            Format::Oci,
            platforms[0].clone(),
            &[images::layer(Format::Oci, 30_000, BIG_LAYER)],
        );
        sp.push_image("bench/big", Some("v1"), &big).await;
        names.push("bench/big:v1".into());
    }
    if env_usize("HANGAR_BENCH_BIG_FIRST", 0) == 1 {
        names.rotate_right(1);
    }
    names
}

/// `list.txt` in `dir`: one `registry/name` line per image of the dataset.
pub(super) fn write_list(
    dir: &std::path::Path,
    src: &RegistryServer,
    names: &[String],
) -> std::path::PathBuf {
    let list = dir.join("list.txt");
    let text: String = names
        .iter()
        .map(|n| format!("{}/{n}\n", src.addr))
        .collect();
    std::fs::write(&list, text).unwrap();
    list
}

/// The wall times of each repetition, for the report (`1.23, 1.31, …`).
pub(super) fn walls(runs: &[Measured]) -> String {
    runs.iter()
        .map(|m| format!("{:.2}", m.wall.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first line a command prints (a version), empty when it cannot run.
pub(super) fn output_of(program: &std::path::Path, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Today (UTC) as YYYY-MM-DD.
pub(super) fn today() -> String {
    output_of(std::path::Path::new("date"), &["-u", "+%Y-%m-%d"])
}
