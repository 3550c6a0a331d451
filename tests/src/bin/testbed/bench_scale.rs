//! The scale benchmark: how hangar's cost grows with the list, side by side with skopeo.
//! Lists of 1,000, 3,000 and 10,000 small images (`HANGAR_SCALE_SIZES` to change): 100 tags
//! per repository, each image a base layer its repository shares (four bases across the
//! registry) plus a tiny layer and a config of its own, pushed into a local registry.
//! Measured per size: hangar `mirror` cold and again (no-op), `save`, `archive ls`, `archive
//! verify` and `load`; skopeo `copy`, 8 processes at a time as `xargs -P8` would run it, cold
//! and again. Wall time, peak RSS (one process), CPU and requests per image (both registries'
//! access logs). Prints a markdown section and writes the numbers as JSON for the plot.

use super::bench::{Measured, cpu_of, run_batch};
use futures_util::StreamExt as _;
use hangar_tests::images::{self, Format, Image, Layer, Platform};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const TAGS_PER_REPOSITORY: usize = 100;
const BASE_LAYER: usize = 64 << 10;
const BASES: u64 = 4;
const WORKERS: &str = "8";

/// One measured step.
struct Step {
    tool: &'static str,
    what: &'static str,
    measured: Measured,
    /// Requests both registries answered during the step.
    requests: usize,
}

async fn seed(src: &RegistryServer, count: usize) -> Vec<String> {
    let bases: Vec<Layer> = (0..BASES)
        .map(|n| images::layer(Format::Oci, 9900 + n, BASE_LAYER))
        .collect();
    let pusher = Arc::new(Pusher::new(src));
    let repositories = count.div_ceil(TAGS_PER_REPOSITORY);
    let mut names = Vec::with_capacity(count);
    let mut batch = Vec::new();
    for n in 0..count {
        let repo = n / TAGS_PER_REPOSITORY;
        let name = format!("scale/app-{repo:04}");
        let tag = format!("t-{n:05}");
        let own = images::files_layer(Format::Oci, &[("id", &n.to_string())]);
        let image: Image = images::image(
            Format::Oci,
            Platform::new("linux", "amd64", None),
            &[bases[repo % BASES as usize].clone(), own],
        );
        names.push(format!("{name}:{tag}"));
        batch.push((name, tag, image));
    }
    eprintln!("seeding {count} images in {repositories} repositories ...");
    // The first image of each repository uploads the base; the rest find it (HEAD).
    let (firsts, rest): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .enumerate()
        .partition(|(n, _)| n % TAGS_PER_REPOSITORY == 0);
    for group in [firsts, rest] {
        let mut pending =
            futures_util::stream::iter(group.into_iter().map(|(_, (name, tag, image))| {
                let pusher = pusher.clone();
                async move { pusher.push_image(&name, Some(&tag), &image).await }
            }))
            .buffer_unordered(32);
        while pending.next().await.is_some() {}
    }
    names
}

fn hangar(args: &[&str]) -> Command {
    let mut c = Command::new(hangar_tests::hangar::bin());
    c.args(args);
    c
}

fn skopeo(names: &[String], src: &str, dst: &str) -> Vec<Command> {
    names
        .iter()
        .map(|name| {
            let mut c = Command::new("skopeo");
            c.args([
                "copy",
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

/// Runs `commands` (`parallel` at a time) and counts the requests `registries` answered.
fn step(
    tool: &'static str,
    what: &'static str,
    registries: &[&RegistryServer],
    commands: Vec<Command>,
    parallel: usize,
) -> Step {
    let before: usize = registries.iter().map(|r| r.requests()).sum();
    let cpu_before: Duration = registries.iter().map(|r| cpu_of(r.pid())).sum();
    let mut measured = run_batch(commands, parallel);
    measured.registries_cpu =
        registries.iter().map(|r| cpu_of(r.pid())).sum::<Duration>() - cpu_before;
    assert!(measured.ok, "{tool} {what} failed");
    let requests = registries.iter().map(|r| r.requests()).sum::<usize>() - before;
    eprintln!(
        "  {tool} {what}: {:.2}s, {:.1} MiB, {requests} requests",
        measured.wall.as_secs_f64(),
        measured.peak_rss_kb as f64 / 1024.0
    );
    Step {
        tool,
        what,
        measured,
        requests,
    }
}

fn measure(count: usize, names: &[String], src: &RegistryServer, work: &Path) -> Vec<Step> {
    let list = work.join(format!("list-{count}.txt"));
    let text: String = names
        .iter()
        .map(|n| format!("{}/{n}\n", src.addr))
        .collect();
    std::fs::write(&list, text).unwrap();
    let list = list.display().to_string();
    let archive = work
        .join(format!("scale-{count}.zip"))
        .display()
        .to_string();
    let failed = work.join("failed.txt").display().to_string();
    let (dst_h, dst_s, dst_l) = (
        RegistryServer::plain_counting(),
        RegistryServer::plain_counting(),
        RegistryServer::plain_counting(),
    );
    let mirror = [
        "mirror",
        "-f",
        &list,
        "-d",
        &dst_h.addr,
        "--tls-verify=false",
        "-j",
        WORKERS,
        "-o",
        &failed,
    ];
    let mut steps = vec![
        step(
            "hangar",
            "mirror cold",
            &[src, &dst_h],
            vec![hangar(&mirror)],
            1,
        ),
        step(
            "skopeo",
            "mirror cold",
            &[src, &dst_s],
            skopeo(names, &src.addr, &dst_s.addr),
            8,
        ),
        step(
            "hangar",
            "mirror no-op",
            &[src, &dst_h],
            vec![hangar(&mirror)],
            1,
        ),
        step(
            "skopeo",
            "mirror no-op",
            &[src, &dst_s],
            skopeo(names, &src.addr, &dst_s.addr),
            8,
        ),
    ];
    let save = [
        "save",
        "-f",
        &list,
        "-d",
        &archive,
        "--tls-verify=false",
        "-j",
        WORKERS,
        "-y",
        "-o",
        &failed,
    ];
    steps.push(step("hangar", "save", &[src], vec![hangar(&save)], 1));
    steps.push(step(
        "hangar",
        "archive ls",
        &[],
        vec![hangar(&["archive", "ls", &archive])],
        1,
    ));
    steps.push(step(
        "hangar",
        "archive verify",
        &[],
        vec![hangar(&["archive", "verify", &archive])],
        1,
    ));
    let load = [
        "load",
        "-s",
        &archive,
        "-d",
        &dst_l.addr,
        "--tls-verify=false",
        "-j",
        WORKERS,
        "-o",
        &failed,
    ];
    steps.push(step("hangar", "load", &[&dst_l], vec![hangar(&load)], 1));
    let _ = std::fs::remove_file(&archive);
    steps
}

pub async fn run() {
    let sizes: Vec<usize> = std::env::var("HANGAR_SCALE_SIZES")
        .unwrap_or_else(|_| "1000,3000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let work = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for &count in &sizes {
        let src = RegistryServer::plain_counting();
        let names = seed(&src, count).await;
        eprintln!("{count} images:");
        let steps = measure(count, &names, &src, work.path());
        results.push((count, steps));
    }
    let json_out: PathBuf = std::env::var("HANGAR_SCALE_JSON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| work.path().join("scale.json"));
    let doc: Vec<_> = results
        .iter()
        .flat_map(|(count, steps)| {
            steps.iter().map(move |s| {
                json!({
                    "images": count, "tool": s.tool, "step": s.what,
                    "wall_s": s.measured.wall.as_secs_f64(),
                    "peak_rss_mib": s.measured.peak_rss_kb as f64 / 1024.0,
                    "cpu_s": s.measured.cpu.as_secs_f64(),
                    "registries_cpu_s": s.measured.registries_cpu.as_secs_f64(),
                    "requests": s.requests,
                })
            })
        })
        .collect();
    std::fs::write(&json_out, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    println!("{}", report(&results));
}

fn report(results: &[(usize, Vec<Step>)]) -> String {
    let mut out = String::from(
        "## Scale: 1,000 to 10,000 images\n\n\
         `bench/scale.sh`: lists of small images (100 tags per repository; each image a 64 KiB \
         base layer shared with its repository, four bases in all, plus a layer and a config of \
         its own) in a local registry on tmpfs. hangar runs with `-j 8`; skopeo runs `copy` 8 \
         processes at a time over the same list (as `xargs -P8`). Every destination starts empty; \
         \"no-op\" is the same run again. RSS is the peak of one process; requests are those the \
         source and destination registries answered (their access logs).\n\n\
         | images | tool | step | wall s | ms/image | peak RSS MiB | CPU s | requests/image |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for (count, steps) in results {
        for s in steps {
            out.push_str(&format!(
                "| {count} | {} | {} | {:.2} | {:.2} | {:.1} | {:.2} | {:.1} |\n",
                s.tool,
                s.what,
                s.measured.wall.as_secs_f64(),
                s.measured.wall.as_secs_f64() * 1000.0 / *count as f64,
                s.measured.peak_rss_kb as f64 / 1024.0,
                s.measured.cpu.as_secs_f64(),
                s.requests as f64 / *count as f64,
            ));
        }
    }
    out.push_str("\nRatios (hangar ÷ skopeo, wall time):\n\n| images | mirror cold | mirror no-op |\n|---|---|---|\n");
    let wall = |steps: &[Step], tool: &str, what: &str| {
        steps
            .iter()
            .find(|s| s.tool == tool && s.what == what)
            .map(|s| s.measured.wall.as_secs_f64())
            .unwrap_or(f64::NAN)
    };
    for (count, steps) in results {
        out.push_str(&format!(
            "| {count} | {:.2} | {:.3} |\n",
            wall(steps, "hangar", "mirror cold") / wall(steps, "skopeo", "mirror cold"),
            wall(steps, "hangar", "mirror no-op") / wall(steps, "skopeo", "mirror no-op"),
        ));
    }
    if let (Some((small, first)), Some((large, last))) = (results.first(), results.last())
        && small != large
    {
        out.push_str(&format!(
            "\nGrowth of hangar's cost per image from {small} to {large} images (1.0 = flat):\n\n| step | ratio |\n|---|---|\n"
        ));
        let rss = |steps: &[Step], what: &str| {
            steps
                .iter()
                .find(|s| s.tool == "hangar" && s.what == what)
                .map(|s| s.measured.peak_rss_kb as f64)
                .unwrap_or(f64::NAN)
        };
        out = out.replace(
            "| step | ratio |\n|---|---|\n",
            "| step | time per image | memory added per extra image |\n|---|---|---|\n",
        );
        for s in first.iter().filter(|s| s.tool == "hangar") {
            let per = |steps: &[Step], n: usize| wall(steps, "hangar", s.what) / n as f64;
            out.push_str(&format!(
                "| {} | {:.2} | {:.1} KiB |\n",
                s.what,
                per(last, *large) / per(first, *small),
                (rss(last, s.what) - rss(first, s.what)) / (large - small) as f64
            ));
        }
        out.push_str(
            "\nMemory grows with the list, not with the bytes moved: the run keeps each image's \
             line, plan and result (and `save`, `load` and `archive ls` the archive's index) \
             until its summary and failed list are written.\n",
        );
    }
    out
}
