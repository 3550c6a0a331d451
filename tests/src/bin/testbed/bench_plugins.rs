//! The plugin benchmark behind `bench/plugins.sh`: a mirror of the benchmark dataset into a
//! Harbor (the Harbor API test server in front of a docker-registry, projects already there),
//! with the Harbor adapter and without it, alternating, each into a fresh registry.

use super::bench::{env_usize, seed_dataset, write_list};
use hangar_tests::harbor::HarborServer;
use hangar_tests::registry::RegistryServer;
use std::process::Command;
use std::time::{Duration, Instant};

pub async fn run() {
    let src = RegistryServer::plain();
    let names = seed_dataset(&src, env_usize("HANGAR_BENCH_IMAGES", 31), true).await;
    let work = tempfile::tempdir().unwrap();
    let list = write_list(work.path(), &src, &names);
    let reps = env_usize("HANGAR_BENCH_REPS", 5).max(1);
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let mut adapter_times = Vec::new();
    for rep in 0..reps {
        for adapter in if rep % 2 == 0 {
            ["harbor", "none"]
        } else {
            ["none", "harbor"]
        } {
            let upstream = RegistryServer::plain();
            let harbor = HarborServer::start(&upstream.addr);
            harbor.add_project("bench");
            let auth = work.path().join("auth.json");
            harbor.write_auth_file(&auth);
            std::thread::sleep(Duration::from_secs(2));
            let started = Instant::now();
            let out = Command::new(hangar_tests::hangar::bin())
                .args(["mirror", "-f"])
                .arg(&list)
                .args([
                    "-d",
                    &harbor.addr,
                    "--tls-verify=false",
                    "-j",
                    "8",
                    "--arch",
                    "",
                    "--os",
                    "",
                    "--registry-adapter",
                    adapter,
                    "-o",
                ])
                .arg(work.path().join("failed.txt"))
                .env("REGISTRY_AUTH_FILE", &auth)
                .output()
                .unwrap();
            let wall = started.elapsed();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            if adapter == "harbor" {
                let log = String::from_utf8_lossy(&out.stderr);
                assert!(log.contains("harbor detected"), "{log}");
                if let Some(took) = log
                    .split("prepared by harbor in ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                {
                    adapter_times.push(took.to_string());
                }
                with.push(wall);
            } else {
                without.push(wall);
            }
            eprintln!("  {adapter}: {:.2}s", wall.as_secs_f64());
        }
    }
    with.sort();
    without.sort();
    let (w, wo) = (with[with.len() / 2], without[without.len() / 2]);
    println!(
        "| mirror into Harbor, {} images | with the Harbor adapter | without | ratio |\n|---|---|---|---|\n| median of {reps} | {:.2} s | {:.2} s | {:.3} |",
        names.len(),
        w.as_secs_f64(),
        wo.as_secs_f64(),
        w.as_secs_f64() / wo.as_secs_f64()
    );
    println!(
        "\nTime the adapter itself took in each run with it (load, detect, check the project): {}.",
        adapter_times.join(", ")
    );
}
