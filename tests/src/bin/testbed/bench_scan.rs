//! The scan benchmark behind `bench/scan.sh`: a Debian bookworm minbase image (a real rootfs
//! made by mmdebstrap, as one layer) in a local registry, scanned end to end by `hangar scan`
//! (the built-in osv-scanner listing its packages, CycloneDX out) and by syft, alternating;
//! wall times, and the package lists compared.

use super::bench::{env_usize, median, run_batch};
use hangar_tests::images::{self, Format, Platform};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::collections::BTreeSet;
use std::process::Command;

pub async fn run() {
    let rootfs = std::env::var("HANGAR_BENCH_ROOTFS").expect("HANGAR_BENCH_ROOTFS: a rootfs tar");
    let syft = std::env::var("HANGAR_BENCH_SYFT").expect("HANGAR_BENCH_SYFT: the syft binary");
    // Compressed as registries hold real images: gzip's default level (docker, BuildKit).
    let layer = images::rootfs_layer_at(
        std::path::Path::new(&rootfs),
        flate2::Compression::default(),
    );
    let image = images::image(Format::Oci, Platform::new("linux", "amd64", None), &[layer]);
    let registry = RegistryServer::plain();
    Pusher::new(&registry)
        .push_image("debian", Some("bookworm"), &image)
        .await;
    let work = tempfile::tempdir().unwrap();
    let list = work.path().join("list.txt");
    let reference = format!("{}/debian:bookworm", registry.addr);
    std::fs::write(&list, format!("{reference}\n")).unwrap();
    let hangar_out = work.path().join("hangar.cdx.json");
    let syft_out = work.path().join("syft.json");
    let hangar_cmd = || {
        let mut c = Command::new(hangar_tests::hangar::bin());
        c.args(["scan", "-y", "-f"])
            .arg(&list)
            .args([
                "--format",
                "cyclonedx",
                "--tls-verify=false",
                "-a",
                "amd64",
                "-r",
            ])
            .arg(&hangar_out)
            .current_dir(work.path());
        c
    };
    let syft_cmd = || {
        let mut c = Command::new(&syft);
        c.arg(format!("registry:{reference}"))
            .arg("-o")
            .arg(format!("json={}", syft_out.display()))
            .env("SYFT_REGISTRY_INSECURE_USE_HTTP", "true")
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
            .env("SYFT_PARALLELISM", "2")
            .current_dir(work.path());
        c
    };
    let reps = env_usize("HANGAR_BENCH_REPS", 5).max(1);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for rep in 0..reps {
        for tool in if rep % 2 == 0 {
            ["hangar", "syft"]
        } else {
            ["syft", "hangar"]
        } {
            let m = if tool == "hangar" {
                run_batch(vec![hangar_cmd()], 1)
            } else {
                run_batch(vec![syft_cmd()], 1)
            };
            assert!(m.ok, "{tool} failed");
            eprintln!("  {tool}: {:.2}s", m.wall.as_secs_f64());
            if tool == "hangar" {
                ours.push(m);
            } else {
                theirs.push(m);
            }
        }
    }
    let walls = |runs: &[super::bench::Measured]| {
        runs.iter()
            .map(|m| format!("{:.2}", m.wall.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (our_walls, their_walls) = (walls(&ours), walls(&theirs));
    let (o, t) = (median(ours), median(theirs));
    let bom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&hangar_out).unwrap()).unwrap();
    let ours_set: BTreeSet<String> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["name"].as_str().unwrap(),
                c["version"].as_str().unwrap()
            )
        })
        .collect();
    let syft_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&syft_out).unwrap()).unwrap();
    let theirs_set: BTreeSet<String> = syft_json["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "deb")
        .map(|a| {
            format!(
                "{} {}",
                a["name"].as_str().unwrap(),
                a["version"].as_str().unwrap()
            )
        })
        .collect();
    let only_ours: Vec<&String> = ours_set.difference(&theirs_set).collect();
    let only_theirs: Vec<&String> = theirs_set.difference(&ours_set).collect();
    let version = Command::new(&syft).arg("version").output().map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find(|l| l.starts_with("Version:"))
            .map(|l| l.trim_start_matches("Version:").trim().to_string())
            .unwrap_or_default()
    });
    println!(
        "| scan of debian:bookworm minbase ({:.0} MiB layer) | hangar scan (osv-scanner) | syft {} | ratio |\n|---|---|---|---|\n| wall time, median of {reps} | {:.2} s | {:.2} s | {:.1}× faster |\n| CPU time | {:.2} s | {:.2} s | – |\n| peak RSS | {} MiB | {} MiB | – |\n| dpkg packages listed | {} | {} | same list: {} |",
        image.layers[0].data.len() as f64 / 1048576.0,
        version.unwrap_or_default(),
        o.wall.as_secs_f64(),
        t.wall.as_secs_f64(),
        t.wall.as_secs_f64() / o.wall.as_secs_f64(),
        o.cpu.as_secs_f64(),
        t.cpu.as_secs_f64(),
        o.peak_rss_kb / 1024,
        t.peak_rss_kb / 1024,
        ours_set.len(),
        theirs_set.len(),
        if only_ours.is_empty() && only_theirs.is_empty() {
            "yes".to_string()
        } else {
            format!("no (only hangar: {only_ours:?}; only syft: {only_theirs:?})")
        },
    );
    println!("\nWall times of each repetition (s): hangar {our_walls}; syft {their_walls}.");
}
