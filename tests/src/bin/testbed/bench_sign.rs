//! The signing benchmark behind `bench/sign.sh`: 100 small images in a local registry, signed
//! with `hangar sign` (index-less single images, one signature each) and then checked with
//! `hangar sign validate`; wall time per image at 1 and 8 workers.

use super::bench::{env_usize, median, run_batch};
use hangar_tests::images;
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::process::Command;

pub async fn run() {
    let count = env_usize("HANGAR_BENCH_IMAGES", 100);
    let reps = env_usize("HANGAR_BENCH_REPS", 3).max(1);
    let work = tempfile::tempdir().unwrap();
    let hangar = hangar_tests::hangar::bin();
    std::fs::write(work.path().join("pass.txt"), "bench-passphrase\n").unwrap();
    let keygen = Command::new(&hangar)
        .args([
            "generate-sigstore-key",
            "-p",
            "k",
            "--passphrase-file",
            "pass.txt",
        ])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );
    println!(
        "| {count} images | sign, 1 worker | sign, 8 workers | validate, 8 workers |\n|---|---|---|---|"
    );
    let mut cells = Vec::new();
    for (verb, jobs) in [("sign", "1"), ("sign", "8"), ("validate", "8")] {
        let mut runs = Vec::new();
        for _ in 0..reps {
            // A fresh registry each time: nothing is already signed.
            let registry = RegistryServer::plain();
            let pusher = Pusher::new(&registry);
            let mut list = String::new();
            for i in 0..count {
                let image = images::single(20_000 + i as u64, 256);
                pusher
                    .push_image(&format!("bench/app{i}"), Some("1"), &image)
                    .await;
                list.push_str(&format!("{}/bench/app{i}:1\n", registry.addr));
            }
            std::fs::write(work.path().join("list.txt"), &list).unwrap();
            let sign = |jobs: &str| {
                let mut c = Command::new(&hangar);
                c.args([
                    "sign",
                    "-f",
                    "list.txt",
                    "-p",
                    "k.key",
                    "--passphrase-file",
                    "pass.txt",
                    "--tls-verify=false",
                    "-j",
                    jobs,
                ])
                .current_dir(work.path());
                c
            };
            if verb == "validate" {
                assert!(run_batch(vec![sign("8")], 1).ok);
                let mut c = Command::new(&hangar);
                c.args([
                    "sign",
                    "validate",
                    "-y",
                    "-f",
                    "list.txt",
                    "-k",
                    "k.pub",
                    "--tls-verify=false",
                    "-j",
                    jobs,
                ])
                .current_dir(work.path());
                runs.push(run_batch(vec![c], 1));
            } else {
                runs.push(run_batch(vec![sign(jobs)], 1));
            }
            assert!(runs.last().unwrap().ok, "{verb} failed");
        }
        let m = median(runs);
        cells.push(format!(
            "{:.2} s ({:.1} ms per image)",
            m.wall.as_secs_f64(),
            m.wall.as_secs_f64() * 1000.0 / count as f64
        ));
    }
    println!("| wall time, median of {reps} | {} |", cells.join(" | "));
}
