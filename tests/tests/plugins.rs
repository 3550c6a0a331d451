//! The Harbor registry adapter (a WebAssembly plugin built into hangar) against the Harbor API
//! test server, which fronts a real docker-registry and refuses pushes into missing projects
//! the way Harbor does.

use hangar_tests::hangar::Env;
use hangar_tests::harbor::HarborServer;
use hangar_tests::images;
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;

#[tokio::test(flavor = "multi_thread")]
async fn harbor_projects_are_created_before_load_and_mirror_push() {
    let src = RegistryServer::plain();
    let upstream = RegistryServer::plain();
    let harbor = HarborServer::start(&upstream.addr);
    harbor.add_project("library");
    let sp = Pusher::new(&src);
    let app = images::single(8100, 30_000);
    let tool = images::single(8200, 20_000);
    sp.push_image("team-a/app", Some("1"), &app).await;
    sp.push_image("library/tool", Some("2"), &tool).await;
    let env = Env::new();
    harbor.write_auth_file(&env.path("auth.json"));
    env.write(
        "list.txt",
        &format!("{0}/team-a/app:1\n{0}/library/tool:2\n", src.addr),
    );
    env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "a.zip",
        "--tls-verify=false",
    ])
    .ok();

    // Without the adapter the push into the missing project fails as on Harbor.
    let bare = env.run(&[
        "load",
        "-s",
        "a.zip",
        "-d",
        &harbor.addr,
        "--tls-verify=false",
        "--registry-adapter",
        "none",
    ]);
    assert_eq!(bare.code, 1, "{}", bare.output());
    assert!(
        bare.output().contains("authentication required"),
        "{}",
        bare.output()
    );
    assert!(!harbor.projects().contains_key("team-a"));

    let load = env.run(&[
        "load",
        "-s",
        "a.zip",
        "-d",
        &harbor.addr,
        "--tls-verify=false",
    ]);
    assert_eq!(load.code, 0, "{}", load.output());
    let out = load.output();
    assert!(out.contains("harbor detected"), "{out}");
    assert!(
        out.contains("Created Harbor V2 project \"team-a\""),
        "{out}"
    );
    assert!(out.contains("Project \"library\" already exists"), "{out}");
    assert_eq!(
        harbor.projects().get("team-a"),
        Some(&false),
        "created private"
    );
    let up = Pusher::new(&upstream);
    assert_eq!(
        up.manifest("team-a/app", &app.manifest.digest)
            .await
            .unwrap()
            .bytes,
        app.manifest.data,
        "the image really arrived behind Harbor"
    );
    assert!(
        harbor
            .api_log()
            .iter()
            .any(|l| l == "POST /api/v2.0/projects")
    );

    // mirror uses the adapter too (Hangar's does not).
    env.write(
        "more.txt",
        &format!("{0}/team-a/app:1 team-b/app 1\n", src.addr),
    );
    let mirror = env.run(&[
        "mirror",
        "-f",
        "more.txt",
        "-d",
        &harbor.addr,
        "--tls-verify=false",
    ]);
    assert_eq!(mirror.code, 0, "{}", mirror.output());
    assert!(harbor.projects().contains_key("team-b"));
    assert!(up.manifest("team-b/app", "1").await.is_some());

    // A plain registry is not Harbor: nothing is asked of it, the load just works.
    let plain = RegistryServer::plain();
    let other = env.run(&[
        "load",
        "-s",
        "a.zip",
        "-d",
        &plain.addr,
        "--tls-verify=false",
    ]);
    assert_eq!(other.code, 0, "{}", other.output());
    assert!(!other.output().contains("detected"), "{}", other.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_harbor_credentials_warn_and_the_push_explains() {
    let src = RegistryServer::plain();
    let upstream = RegistryServer::plain();
    let harbor = HarborServer::start(&upstream.addr);
    let sp = Pusher::new(&src);
    sp.push_image("team-c/app", Some("1"), &images::single(8300, 10_000))
        .await;
    let env = Env::new();
    std::fs::write(
        env.path("auth.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"YWRtaW46d3Jvbmc="}}}}}}"#,
            harbor.addr
        ),
    )
    .unwrap();
    env.write(
        "list.txt",
        &format!("{}/team-c/app:1 team-c/app 1\n", src.addr),
    );
    let run = env.run(&[
        "mirror",
        "-f",
        "list.txt",
        "-d",
        &harbor.addr,
        "--tls-verify=false",
    ]);
    assert_eq!(run.code, 1, "{}", run.output());
    let out = run.output();
    assert!(
        out.contains("Failed to prepare") && out.contains("401"),
        "{out}"
    );
    assert!(
        out.contains("Please create the Harbor Project manually."),
        "{out}"
    );
    // The push failure that follows is explained by the adapter (Hangar #44), once.
    let hint = "Harbor refused the push: the project does not exist or the user may not push to it";
    assert_eq!(out.matches(hint).count(), 1, "{out}");
    assert!(out.contains("(from the harbor adapter)"), "{out}");
    assert!(harbor.projects().is_empty());
}

/// `plugin test` without fixtures reports the requests the plugin really made over the network
/// (it used to report only requests answered from fixtures, so a live call showed none).
#[tokio::test(flavor = "multi_thread")]
async fn plugin_test_records_live_requests() {
    let upstream = RegistryServer::plain();
    let harbor = HarborServer::start(&upstream.addr);
    harbor.add_project("library");
    let env = Env::new();
    harbor.write_auth_file(&env.path("auth.json"));
    let run = env.run(&[
        "plugin",
        "test",
        "harbor",
        "prepare-push",
        &harbor.addr,
        "team-x/app",
        "library/tool",
        "--tls-verify=false",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let calls = hangar_tests::hangar::plugin_requests(&report);
    let base = format!("http://{}/api/v2.0", harbor.addr);
    // The host tells the adapter the registry speaks plain HTTP (`endpoints.registry-url`,
    // with --tls-verify=false), so the plugin goes there directly: no https attempt first.
    assert_eq!(
        calls,
        [
            format!("GET {base}/ping 200"),
            format!("HEAD {base}/projects?project_name=library 200"),
            format!("HEAD {base}/projects?project_name=team-x 404"),
            format!("POST {base}/projects 201"),
        ]
    );
    assert!(report["requests"][0].get("matched").is_none());
    assert!(harbor.projects().contains_key("team-x"));
}

/// An adapter the user named says when it does not recognise the destination (a vendor
/// testing it needs to know); with `auto`, where every adapter is asked, that is not news.
#[tokio::test(flavor = "multi_thread")]
async fn a_chosen_adapter_says_when_it_does_not_recognise_the_registry() {
    let src = RegistryServer::plain();
    let image = hangar_tests::images::single(4101, 2000);
    hangar_tests::pusher::Pusher::new(&src)
        .push_image("team/app", Some("1"), &image)
        .await;
    let dst = RegistryServer::plain();
    let env = Env::new();
    env.write(
        "list.txt",
        &format!("{}/team/app:1 {}/team/app 1\n", src.addr, dst.addr),
    );
    let notice = format!(
        "{}: adapter harbor did not recognise it; nothing prepared",
        dst.addr
    );
    let chosen = env.mirror(&dst.addr, &["--registry-adapter", "harbor"]);
    assert_eq!(chosen.code, 0, "{}", chosen.output());
    assert!(chosen.output().contains(&notice), "{}", chosen.output());
    let auto = env.mirror(&dst.addr, &[]);
    assert_eq!(auto.code, 0, "{}", auto.output());
    assert!(
        !auto.output().contains("did not recognise"),
        "{}",
        auto.output()
    );
}
