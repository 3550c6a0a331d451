//! registries.conf as podman and skopeo read it: mirrors are pulled from first (the origin
//! sees no request for an image the mirror has), an insecure registry needs no flag, a blocked
//! one is refused with one line while the rest of the list runs.

use hangar_tests::fault_proxy::FaultProxy;
use hangar_tests::hangar::Env;
use hangar_tests::images;
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;

#[tokio::test(flavor = "multi_thread")]
async fn sources_are_pulled_from_their_mirror_first() {
    let origin = RegistryServer::plain();
    let watched = FaultProxy::start(&origin.addr);
    let mirror = RegistryServer::plain();
    let dst = RegistryServer::plain();
    let cached = images::single(770, 40_000);
    let only_at_origin = images::single(771, 30_000);
    let op = Pusher::new(&origin);
    op.push_image("team/cached", Some("1"), &cached).await;
    op.push_image("team/fresh", Some("1"), &only_at_origin)
        .await;
    // The pull-through cache holds one of the two, under its own path.
    Pusher::new(&mirror)
        .push_image("cache/team/cached", Some("1"), &cached)
        .await;
    let env = Env::new();
    env.write(
        "registries.conf",
        &format!(
            "[[registry]]\nprefix = \"{0}\"\nlocation = \"{0}\"\n\n[[registry.mirror]]\nlocation = \"{1}/cache\"\n",
            watched.addr, mirror.addr
        ),
    );
    env.write(
        "list.txt",
        &format!("{0}/team/cached:1\n{0}/team/fresh:1\n", watched.addr),
    );
    let run = env.mirror(&dst.addr, &["--registries-conf", "registries.conf"]);
    assert_eq!(run.code, 0, "{}", run.output());
    let dp = Pusher::new(&dst);
    assert_eq!(
        dp.manifest("team/cached", "1").await.unwrap().digest,
        cached.manifest.digest
    );
    assert_eq!(
        dp.manifest("team/fresh", "1").await.unwrap().digest,
        only_at_origin.manifest.digest
    );
    let asked: Vec<String> = watched.log();
    assert!(
        !asked.iter().any(|r| r.contains("/team/cached/")),
        "the origin was asked for the mirrored image: {asked:?}"
    );
    assert!(
        asked.iter().any(|r| r.contains("/team/fresh/blobs/")),
        "the image the mirror lacks came from the origin: {asked:?}"
    );
    assert!(run.output().contains("from mirror"), "{}", run.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn insecure_registries_need_no_flag_and_blocked_ones_are_refused() {
    let src = RegistryServer::plain();
    let dst = RegistryServer::tls();
    let img = images::single(772, 20_000);
    let sp = Pusher::new(&src);
    sp.push_image("ok/app", Some("1"), &img).await;
    sp.push_image("banned/app", Some("1"), &img).await;
    let env = Env::new();
    env.write(
        "list.txt",
        &format!("{0}/ok/app:1\n{0}/banned/app:1\n", src.addr),
    );
    let mirror = |conf: &str| {
        env.run(&[
            "mirror",
            "-f",
            "list.txt",
            "-d",
            &dst.addr,
            "--registries-conf",
            conf,
        ])
    };
    // Without configuration: the plain-HTTP source and the self-signed destination fail.
    env.write("none.conf", "");
    let refused = mirror("none.conf");
    assert_eq!(refused.code, 1, "{}", refused.output());

    env.write(
        "registries.conf",
        &format!(
            "[[registry]]\nlocation = \"{0}\"\ninsecure = true\n\n[[registry]]\nlocation = \"{1}\"\ninsecure = true\n\n[[registry]]\nprefix = \"{0}/banned\"\nblocked = true\n",
            src.addr, dst.addr
        ),
    );
    let run = mirror("registries.conf");
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.output().contains(&format!(
            "{}/banned/app is blocked by registries.conf",
            src.addr
        )),
        "{}",
        run.output()
    );
    assert_eq!(
        std::fs::read_to_string(env.path("mirror-failed.txt")).unwrap(),
        format!("{}/banned/app:1\n", src.addr)
    );
    let dp = Pusher::new(&dst);
    assert_eq!(
        dp.manifest("ok/app", "1").await.unwrap().digest,
        img.manifest.digest
    );
    assert!(dp.manifest("banned/app", "1").await.is_none());

    // A malformed file stops the run with one line naming it.
    env.write("bad.conf", "[[registry]\n");
    let bad = mirror("bad.conf");
    assert_eq!(bad.code, 1);
    assert!(bad.output().contains("bad.conf"), "{}", bad.output());
}
