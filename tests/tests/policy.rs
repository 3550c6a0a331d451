//! The containers signature policy gates every route that brings images in: with a policy
//! that rejects by default and requires a sigstore signature by a key for one namespace, the
//! signed image crosses (mirror, save, load) and the others are refused with one line, go to
//! the failed list and leave nothing at the destination.

use hangar_tests::hangar::Env;
use hangar_tests::images;
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;

/// The repositories a registry holds (what a refused image must not add).
async fn catalog(registry: &RegistryServer) -> Vec<String> {
    let body: serde_json::Value = reqwest::get(format!("http://{}/v2/_catalog", registry.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn only_images_the_policy_admits_cross_on_every_route() {
    let src = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let signed = images::single(780, 20_000);
    let unsigned = images::single(781, 20_000);
    let elsewhere = images::single(782, 20_000);
    sp.push_image("team/signed", Some("1"), &signed).await;
    sp.push_image("team/unsigned", Some("1"), &unsigned).await;
    sp.push_image("other/app", Some("1"), &elsewhere).await;
    let env = Env::new();
    env.write("pass.txt", "policy-pass\n");
    env.run(&[
        "generate-sigstore-key",
        "-p",
        "k",
        "--passphrase-file",
        "pass.txt",
    ])
    .ok();
    env.write("to-sign.txt", &format!("{}/team/signed:1\n", src.addr));
    let sign = env.run(&[
        "sign",
        "-f",
        "to-sign.txt",
        "-p",
        "k.key",
        "--passphrase-file",
        "pass.txt",
        "--tls-verify=false",
    ]);
    assert_eq!(sign.code, 0, "{}", sign.output());
    // cosign signs the repository, so the namespace asks for matchRepository.
    let policy = serde_json::json!({
        "default": [{"type": "reject"}],
        "transports": {"docker": {
            format!("{}/team", src.addr): [{
                "type": "sigstoreSigned",
                "keyPath": env.path("k.pub"),
                "signedIdentity": {"type": "matchRepository"}
            }]
        }}
    });
    env.write("policy.json", &policy.to_string());
    let list = format!(
        "{0}/team/signed:1\n{0}/team/unsigned:1\n{0}/other/app:1\n",
        src.addr
    );
    env.write("list.txt", &list);
    let refused_lines = format!("{0}/team/unsigned:1\n{0}/other/app:1\n", src.addr);

    // mirror
    let dst = RegistryServer::plain();
    let run = env.mirror(&dst.addr, &["--policy", "policy.json"]);
    assert_eq!(run.code, 1, "{}", run.output());
    let out = run.output();
    assert!(
        out.contains("team/unsigned:1: refused by") && out.contains("no signature of"),
        "{out}"
    );
    assert!(
        out.contains("other/app:1: refused by") && out.contains("reject"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("mirror-failed.txt")).unwrap(),
        refused_lines
    );
    assert_eq!(
        Pusher::new(&dst)
            .manifest("team/signed", "1")
            .await
            .unwrap()
            .digest,
        signed.manifest.digest
    );
    assert_eq!(catalog(&dst).await, vec!["team/signed".to_string()]);

    // mirror validate judges the source images the same way.
    let checked = env.run(&[
        "mirror",
        "validate",
        "-f",
        "list.txt",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "--policy",
        "policy.json",
    ]);
    assert_eq!(checked.code, 1, "{}", checked.output());
    let out = checked.output();
    assert!(
        out.contains(&format!("PASS: [{}/team/signed:1]", src.addr)),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains("FAILED")
            && l.contains("team/unsigned:1")
            && l.contains("refused by")),
        "{out}"
    );

    // save: only the admitted image (and its signature) is written
    let save = env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "gated.zip",
        "--tls-verify=false",
        "-y",
        "--policy",
        "policy.json",
    ]);
    assert_eq!(save.code, 1, "{}", save.output());
    assert_eq!(
        std::fs::read_to_string(env.path("save-failed.txt")).unwrap(),
        refused_lines
    );
    let listed = env.run(&["archive", "ls", "gated.zip", "--image-only"]);
    let images: Vec<&str> = listed.stdout.lines().collect();
    assert!(
        images.iter().all(|l| l.contains("/team/signed:")),
        "{images:?}"
    );

    // load: the archive's own signatures admit the image; an archive saved without the
    // policy brings the others, and load refuses them.
    env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "all.zip",
        "--tls-verify=false",
        "-y",
        "--insecure-policy",
    ])
    .ok();
    let loaded = RegistryServer::plain();
    let load = env.run(&[
        "load",
        "-s",
        "all.zip",
        "-d",
        &loaded.addr,
        "--tls-verify=false",
        "--policy",
        "policy.json",
    ]);
    assert_eq!(load.code, 1, "{}", load.output());
    assert!(load.output().contains("refused by"), "{}", load.output());
    assert_eq!(
        Pusher::new(&loaded)
            .manifest("team/signed", "1")
            .await
            .unwrap()
            .digest,
        signed.manifest.digest
    );
    assert_eq!(catalog(&loaded).await, vec!["team/signed".to_string()]);
    let failed = std::fs::read_to_string(env.path("load-failed.txt")).unwrap();
    assert!(
        failed.contains("team/unsigned:1")
            && failed.contains("other/app:1")
            && !failed.contains("team/signed"),
        "{failed}"
    );
    // load validate judges the archive's images the same way.
    let checked = env.run(&[
        "load",
        "validate",
        "-s",
        "all.zip",
        "-d",
        &loaded.addr,
        "--tls-verify=false",
        "--policy",
        "policy.json",
    ]);
    assert_eq!(checked.code, 1, "{}", checked.output());
    assert!(
        checked
            .output()
            .lines()
            .any(|l| l.contains("FAILED") && l.contains("other/app:1") && l.contains("reject")),
        "{}",
        checked.output()
    );
}
