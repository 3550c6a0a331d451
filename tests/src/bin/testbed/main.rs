//! `hangar-testbed demo`: the README's "run it" command. Starts two local registries (real
//! docker-registry processes on 127.0.0.1), seeds the source with sample images (a
//! multi-arch OCI index with attestations, a Docker manifest list, a single OCI image),
//! mirrors them with `hangar mirror`, validates, prints what arrived, and stops the
//! registries.
//!
//! `hangar-testbed bench`: the mirror benchmark behind `bench/mirror.sh` (see `bench.rs`).
//! `hangar-testbed bench-archive`: save/load behind `bench/archive.sh` (`bench_archive.rs`).

mod bench;
mod bench_archive;
mod bench_plugins;
mod bench_scale;
mod bench_scan;
mod bench_sign;

use hangar_tests::images::{self, Format, MultiArch, Platform};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::process::Command;

fn hangar(args: &[&str], dir: &std::path::Path) -> i32 {
    eprintln!("\n$ hangar {}", args.join(" "));
    let status = Command::new(hangar_tests::hangar::bin())
        .args(args)
        .current_dir(dir)
        .status()
        .expect("run hangar");
    status.code().unwrap_or(1)
}

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "demo".into());
    match mode.as_str() {
        "demo" => demo().await,
        "bench" => bench::run().await,
        "bench-archive" => bench_archive::run().await,
        "bench-plugins" => bench_plugins::run().await,
        "bench-scan" => bench_scan::run().await,
        "bench-sign" => bench_sign::run().await,
        "bench-scale" => bench_scale::run().await,
        _ => {
            eprintln!(
                "usage: hangar-testbed demo|bench|bench-archive|bench-plugins|bench-scan|bench-sign|bench-scale"
            );
            std::process::exit(2);
        }
    }
}

async fn demo() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    eprintln!(
        "source registry:      http://{} (pid {})",
        src.addr,
        src.pid()
    );
    eprintln!(
        "destination registry: http://{} (pid {})",
        dst.addr,
        dst.pid()
    );

    let sp = Pusher::new(&src);
    let multi = MultiArch::build(1, 2 << 20);
    sp.push_index(
        "library/sample-multiarch",
        "v1",
        &multi.index,
        &multi.children(),
    )
    .await;
    let shared = images::layer(Format::Docker, 10, 1 << 20);
    let amd = images::image(
        Format::Docker,
        Platform::new("linux", "amd64", None),
        &[shared.clone(), images::layer(Format::Docker, 11, 512 << 10)],
    );
    let arm = images::image(
        Format::Docker,
        Platform::new("linux", "arm64", None),
        &[shared, images::layer(Format::Docker, 12, 512 << 10)],
    );
    let list = images::index(Format::Docker, &[amd.clone(), arm.clone()]);
    sp.push_index("rancher/sample-dockerlist", "1.0", &list, &[&amd, &arm])
        .await;
    let single = images::image(
        Format::Oci,
        Platform::new("linux", "amd64", None),
        &[images::layer(Format::Oci, 20, 1 << 20)],
    );
    sp.push_image("rancher/sample-single", Some("2.0"), &single)
        .await;
    eprintln!("seeded 3 sample images into the source registry");

    let work = tempfile::tempdir().expect("tempdir");
    let list_text = format!(
        "# sample image list (Hangar's default format)\n{0}/library/sample-multiarch:v1\n{0}/rancher/sample-dockerlist:1.0\n{0}/rancher/sample-single:2.0\n",
        src.addr
    );
    std::fs::write(work.path().join("list.txt"), &list_text).unwrap();
    eprintln!("\nimage list:\n{list_text}");

    let mirror = [
        "mirror",
        "-f",
        "list.txt",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "-j",
        "3",
    ];
    let validate = [
        "mirror",
        "validate",
        "-f",
        "list.txt",
        "-d",
        &dst.addr,
        "--tls-verify=false",
    ];
    // Copy, check, then copy again: the second copy finds everything in place.
    let mut code = 0;
    for args in [&mirror[..], &validate[..], &mirror[..]] {
        if code == 0 {
            code = hangar(args, work.path());
        }
    }
    eprintln!("\nwhat arrived at the destination:");
    let dp = Pusher::new(&dst);
    for (repo, tag, source_digest) in [
        ("library/sample-multiarch", "v1", &multi.index.digest),
        ("rancher/sample-dockerlist", "1.0", &list.digest),
        ("rancher/sample-single", "2.0", &single.manifest.digest),
    ] {
        match dp.manifest(repo, tag).await {
            Some(m) => eprintln!(
                "  {}/{repo}:{tag}  {}  {}  (source {})",
                dst.addr,
                m.media_type,
                m.digest,
                if &m.digest == source_digest {
                    "same digest"
                } else {
                    "new index: platforms filtered"
                }
            ),
            None => {
                eprintln!("  {}/{repo}:{tag}  MISSING", dst.addr);
                code = 1;
            }
        }
    }
    eprintln!("\nstopping the registries");
    drop((src, dst));
    std::process::exit(code);
}
