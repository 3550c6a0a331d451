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

struct Measured {
    wall: Duration,
    peak_rss_kb: i64,
    /// User + system CPU time of the tool's processes (from wait4, exact per child).
    cpu: Duration,
    ok: bool,
}

/// Reaps `pid` if it has exited: its success and CPU time.
fn reap(pid: u32) -> Option<(bool, Duration)> {
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
fn run_batch(commands: Vec<Command>, parallel: usize) -> Measured {
    let started = Instant::now();
    let mut pending: Vec<Command> = commands.into_iter().rev().collect();
    let mut running: Vec<std::process::Child> = Vec::new();
    let mut peak = 0i64;
    let mut cpu = Duration::ZERO;
    let mut ok = true;
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < parallel {
            let Some(mut c) = pending.pop() else { break };
            running.push(
                c.stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn"),
            );
        }
        for child in &running {
            peak = peak.max(vm_hwm_kb(child.id()).unwrap_or(0));
        }
        let mut i = 0;
        while i < running.len() {
            match reap(running[i].id()) {
                Some((success, used)) => {
                    cpu += used;
                    if !success {
                        let mut err = String::new();
                        use std::io::Read as _;
                        let _ = running[i].stderr.take().unwrap().read_to_string(&mut err);
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
        ok,
    }
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

fn dir_bytes(path: &std::path::Path) -> u64 {
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

fn env_usize(name: &str, default: usize) -> usize {
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
    let sp = Pusher::new(&src);
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
    let dataset = dir_bytes(&src.dir.path().join("data/docker/registry/v2/blobs"));
    eprintln!(
        "dataset: {} images, {:.0} MiB of blobs",
        names.len(),
        dataset as f64 / 1048576.0
    );

    let work = tempfile::tempdir().unwrap();
    let list = work.path().join("list.txt");
    std::fs::write(
        &list,
        names
            .iter()
            .map(|n| format!("{}/{n}\n", src.addr))
            .collect::<String>(),
    )
    .unwrap();

    let (dst_h, dst_s) = (RegistryServer::plain(), RegistryServer::plain());
    eprintln!("cold: hangar mirror -j 8 ...");
    let h_cold = run_batch(vec![hangar(&list, &dst_h.addr)], 1);
    eprintln!("cold: skopeo copy --all, 8 at a time ...");
    let s_cold = run_batch(skopeo(&names, &src.addr, &dst_s.addr), 8);
    eprintln!("no-op: hangar ...");
    let h_noop = run_batch(vec![hangar(&list, &dst_h.addr)], 1);
    eprintln!("no-op: skopeo ...");
    let s_noop = run_batch(skopeo(&names, &src.addr, &dst_s.addr), 8);
    let copied_h = dir_bytes(&dst_h.dir.path().join("data/docker/registry/v2/blobs"));
    let copied_s = dir_bytes(&dst_s.dir.path().join("data/docker/registry/v2/blobs"));
    assert!(
        h_cold.ok && s_cold.ok && h_noop.ok && s_noop.ok,
        "a benchmark run failed"
    );
    assert_eq!(copied_h, copied_s, "both tools must copy the same bytes");

    let mb = dataset as f64 / 1e6;
    let row = |tool: &str, run: &str, m: &Measured| {
        format!(
            "| {tool} | {run} | {:.2} | {:.0} | {:.2} | {:.1} |",
            m.wall.as_secs_f64(),
            if run == "cold" {
                mb / m.wall.as_secs_f64()
            } else {
                0.0
            },
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
    let skopeo_version = Command::new("skopeo")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let hangar_version = Command::new(hangar_tests::hangar::bin())
        .arg("version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let report = format!(
        "## Mirror: registry → registry\n\n\
         Measured by `bench/mirror.sh` on {date}, {cores} cores ({cpu}), two local `docker-registry` 2.8 \
         destinations on 127.0.0.1 (one per tool, both empty at the start), one source.\n\n\
         Dataset: {n} images, {mib:.0} MiB of blobs: {IMAGES} multi-arch OCI indexes (linux/amd64, linux/arm64/v8, \
         linux/arm/v7; a 10 MiB base layer per architecture shared by every image, two 2.5 MiB layers of its own \
         per platform) and one image with a 512 MiB layer. Both tools copy every platform \
         (`hangar mirror -j 8 --arch \"\" --os \"\"`; `skopeo copy --all`, 8 processes at a time) and end with the \
         same {copied:.0} MiB of blobs in their destination.\n\n\
         | tool | run | wall (s) | MB/s | CPU (s) | peak RSS (MiB) |\n|---|---|---|---|---|---|\n{}\n{}\n{}\n{}\n\n\
         | ratio (hangar / skopeo) | value | target |\n|---|---|---|\n\
         | cold wall time | {:.2} | ≤ 0.5 |\n| no-op re-run wall time | {:.2} | ≤ 0.1 |\n\
         | hangar peak RSS | {:.1} MiB | < 100 MiB |\n\n\
         Peak RSS is the kernel's VmHWM of one process, sampled every 5 ms (skopeo: the largest of its processes). \
         Versions: {hangar_version}; {skopeo_version}.\n",
        row("hangar", "cold", &h_cold),
        row("skopeo", "cold", &s_cold),
        row("hangar", "no-op", &h_noop),
        row("skopeo", "no-op", &s_noop),
        h_cold.wall.as_secs_f64() / s_cold.wall.as_secs_f64(),
        h_noop.wall.as_secs_f64() / s_noop.wall.as_secs_f64(),
        h_cold.peak_rss_kb.max(h_noop.peak_rss_kb) as f64 / 1024.0,
        date = String::from_utf8_lossy(
            &Command::new("date")
                .arg("-u")
                .arg("+%Y-%m-%d")
                .output()
                .unwrap()
                .stdout
        )
        .trim(),
        cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n = names.len(),
        mib = dataset as f64 / 1048576.0,
        copied = copied_h as f64 / 1048576.0,
    );
    println!("{report}");
}
