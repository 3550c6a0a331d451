//! One list across several machines, run exactly as a Kubernetes Indexed Job runs it: each
//! "pod" is its own process in its own directory (own failed list, own HOME), told its index
//! in `JOB_COMPLETION_INDEX` and given `--shard $(JOB_COMPLETION_INDEX)/N` with the variable
//! expanded, as Kubernetes expands it in a container's args.

use hangar_tests::fault_proxy::{Fault, FaultProxy, Rule};
use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Image};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const PODS: usize = 3;

/// Twelve repositories of one image each (`shard/r00:1` … `shard/r11:1`) in `src`.
async fn twelve(src: &RegistryServer) -> Vec<(String, Image)> {
    let pusher = Pusher::new(src);
    let mut pushed = Vec::new();
    for n in 0..12u64 {
        let repo = format!("shard/r{n:02}");
        let image = images::single(9600 + n, 3000 + n as usize * 100);
        pusher.push_image(&repo, Some("1"), &image).await;
        pushed.push((repo, image));
    }
    pushed
}

fn list(src: &RegistryServer, pushed: &[(String, Image)]) -> String {
    pushed
        .iter()
        .map(|(repo, _)| format!("{}/{repo}:1\n", src.addr))
        .collect()
}

/// A pod: its own directory with the list, and its index in the environment.
fn pod(index: usize, list: &str) -> Env {
    let mut env = Env::new();
    env.write("list.txt", list);
    env.set("JOB_COMPLETION_INDEX", &index.to_string());
    env
}

/// The Job's args with `$(JOB_COMPLETION_INDEX)` expanded.
fn job_args<'a>(args: &[&'a str], shard: &'a str) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--shard", shard]);
    all
}

/// `N images: copied C, up to date U, …` of a run's summary line: (N, C, U).
fn summary(output: &str, past: &str) -> (usize, usize, usize) {
    let line = output
        .lines()
        .rev()
        .find(|l| l.contains(&format!(" images: {past} ")))
        .unwrap_or_else(|| panic!("no summary in {output}"));
    let number = |after: &str| -> usize {
        let rest = &line[line.find(after).unwrap() + after.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let total = line[..line.find(" images:").unwrap()]
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (total, number(&format!("{past} ")), number("up to date "))
}

/// Waits for a spawned hangar and returns (exit code, stderr + stdout).
fn finish(child: std::process::Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn three_pods_mirror_a_twelve_image_list_once() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let pushed = twelve(&src).await;
    let proxy = FaultProxy::start(&dst.addr);
    let list = list(&src, &pushed);
    let pods: Vec<Env> = (0..PODS).map(|i| pod(i, &list)).collect();
    let shards: Vec<String> = (0..PODS).map(|i| format!("{i}/{PODS}")).collect();
    let children: Vec<_> = pods
        .iter()
        .zip(&shards)
        .map(|(env, shard)| {
            env.spawn(&job_args(
                &[
                    "mirror",
                    "-f",
                    "list.txt",
                    "-d",
                    &proxy.addr,
                    "--tls-verify=false",
                    "-j",
                    "2",
                ],
                shard,
            ))
        })
        .collect();
    let mut copied = Vec::new();
    for (n, child) in children.into_iter().enumerate() {
        let (code, out) = finish(child);
        assert_eq!(code, 0, "pod {n}: {out}");
        let (total, done, _) = summary(&out, "copied");
        assert_eq!(total, done, "pod {n}: {out}");
        assert!(
            out.contains(&format!("Shard {n}/{PODS}: {done} of the list's 12 images")),
            "{out}"
        );
        copied.push(done);
        assert!(
            !pods[n].path("mirror-failed.txt").exists(),
            "pod {n} wrote a failed list"
        );
    }
    assert_eq!(copied.iter().sum::<usize>(), 12, "{copied:?}");
    assert!(
        copied.iter().max().unwrap() - copied.iter().min().unwrap() <= 1,
        "{copied:?}"
    );
    let dp = Pusher::new(&dst);
    for (repo, image) in &pushed {
        assert_eq!(
            dp.manifest(repo, "1").await.unwrap().digest,
            image.manifest.digest
        );
    }
    // No image was written by two pods: one manifest PUT per repository.
    let mut puts: BTreeMap<String, usize> = BTreeMap::new();
    for line in proxy.log() {
        if line.starts_with("PUT ") && line.contains("/manifests/1") {
            let repo = line
                .split("/v2/")
                .nth(1)
                .unwrap()
                .split("/manifests/")
                .next()
                .unwrap();
            *puts.entry(repo.to_string()).or_default() += 1;
        }
    }
    assert_eq!(puts.len(), 12, "{puts:?}");
    assert!(puts.values().all(|n| *n == 1), "{puts:?}");
}

/// A pod killed halfway (a node lost) and its index retried: the retry redoes only its own
/// images, finds the ones already copied up to date, and completes the part.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_pod_is_retried_and_completes_only_its_part() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let pushed = twelve(&src).await;
    let proxy = FaultProxy::start(&dst.addr);
    // With twelve one-image repositories, part 1 of 3 is r01, r04, r07, r10 (docs/kubernetes.md):
    // r07's manifest hangs, so the pod is killed after r01 and r04.
    proxy.add(Rule {
        method: "PUT",
        path_contains: "/shard/r07/manifests/1".into(),
        fault: Fault::Stall(Duration::from_secs(60)),
        times: 1,
    });
    let env = pod(1, &list(&src, &pushed));
    let args = job_args(
        &[
            "mirror",
            "-f",
            "list.txt",
            "-d",
            &proxy.addr,
            "--tls-verify=false",
            "-j",
            "1",
        ],
        "1/3",
    );
    let mut child = env.spawn(&args);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !proxy
        .log()
        .iter()
        .any(|l| l.starts_with("PUT") && l.contains("/shard/r07/manifests/"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "r07 never reached its manifest"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let dp = Pusher::new(&dst);
    assert!(dp.manifest("shard/r04", "1").await.is_some());
    assert!(dp.manifest("shard/r10", "1").await.is_none());

    let retry = env.run(&args);
    assert_eq!(retry.code, 0, "{}", retry.output());
    let out = retry.output();
    assert_eq!(summary(&out, "copied"), (4, 2, 2), "{out}");
    for (n, (repo, image)) in pushed.iter().enumerate() {
        let got = dp.manifest(repo, "1").await.map(|m| m.digest);
        if n % 3 == 1 {
            assert_eq!(
                got.as_deref(),
                Some(image.manifest.digest.as_str()),
                "{repo}"
            );
        } else {
            assert_eq!(got, None, "{repo} belongs to another pod");
        }
    }
}

/// The names of an archive's entries, and its images as (source, tag, digest).
fn archive_contents(
    path: &std::path::Path,
) -> (BTreeSet<String>, BTreeSet<(String, String, String)>) {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let names: BTreeSet<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
        .filter(|n| n != "index.json")
        .collect();
    let index: serde_json::Value =
        serde_json::from_reader(zip.by_name("index.json").unwrap()).unwrap();
    let images = index["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|image| {
            let digests: Vec<&str> = image["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["digest"].as_str().unwrap())
                .collect();
            (
                image["source"].as_str().unwrap().to_string(),
                image["tag"].as_str().unwrap().to_string(),
                digests.join(","),
            )
        })
        .collect();
    (names, images)
}

/// save on three pods, then `archive merge` of the parts: the same archive as one save of
/// the whole list. Then two pods load the merged archive, each its own part.
#[tokio::test(flavor = "multi_thread")]
async fn shard_archives_merge_into_the_whole_save_and_load_in_parts() {
    let src = RegistryServer::plain();
    let pushed = twelve(&src).await;
    let list = list(&src, &pushed);
    let whole = pod(0, &list);
    let run = whole.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "whole.zip",
        "--tls-verify=false",
        "-y",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());

    let mut parts = Vec::new();
    let mut pods = Vec::new();
    for i in 0..PODS {
        let env = pod(i, &list);
        let shard = format!("{i}/{PODS}");
        let part = format!("part-{i}.zip");
        let run = env.run(&job_args(
            &[
                "save",
                "-f",
                "list.txt",
                "-d",
                &part,
                "--tls-verify=false",
                "-y",
            ],
            &shard,
        ));
        assert_eq!(run.code, 0, "{}", run.output());
        assert_eq!(summary(&run.output(), "saved").0, 4);
        parts.push(env.path(&part));
        pods.push(env);
    }
    let mut merge = vec!["archive", "merge", "-o", "merged.zip", "-y"];
    let part_paths: Vec<String> = parts.iter().map(|p| p.display().to_string()).collect();
    for p in &part_paths {
        merge.extend(["-f", p.as_str()]);
    }
    let run = whole.run(&merge);
    assert_eq!(run.code, 0, "{}", run.output());
    let (whole_names, whole_images) = archive_contents(&whole.path("whole.zip"));
    let (merged_names, merged_images) = archive_contents(&whole.path("merged.zip"));
    assert_eq!(merged_images, whole_images);
    assert_eq!(merged_names, whole_names);
    assert_eq!(whole_images.len(), 12);
    // Twelve configs and twelve layers at least, besides the manifests.
    assert!(whole_names.len() >= 24, "{whole_names:?}");
    let verify = whole.run(&["archive", "verify", "merged.zip"]);
    assert_eq!(verify.code, 0, "{}", verify.output());

    // Two pods load the merged archive, each its own part.
    let dst = RegistryServer::plain();
    let merged = whole.path("merged.zip").display().to_string();
    let mut loaded = 0;
    for i in 0..2 {
        let env = pod(i, "");
        let shard = format!("{i}/2");
        let run = env.run(&job_args(
            &["load", "-s", &merged, "-d", &dst.addr, "--tls-verify=false"],
            &shard,
        ));
        assert_eq!(run.code, 0, "{}", run.output());
        let (total, done, _) = summary(&run.output(), "loaded");
        assert_eq!((total, done), (6, 6), "{}", run.output());
        loaded += done;
    }
    assert_eq!(loaded, 12);
    let dp = Pusher::new(&dst);
    for (repo, image) in &pushed {
        assert_eq!(
            dp.manifest(repo, "1").await.unwrap().digest,
            image.manifest.digest
        );
    }
}
