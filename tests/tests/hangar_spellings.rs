//! Hangar's names that scripts use: command aliases, login/logout flags, the removed signv1
//! spellings, overwrite questions, `scan --scanner`, pre-1.7 archives, `inspect` of schema1,
//! help for command groups, and error lines that read once.

use hangar_tests::hangar::{Env, Run};
use hangar_tests::images::{self, Format};
use hangar_tests::pusher::{Pusher, seed_schema1};
use hangar_tests::registry::{PASSWORD, RegistryServer, USER};
use serde_json::Value;

/// A packaged Helm chart `<name>-<version>.tgz`.
fn chart_tgz(name: &str, version: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (file, body) in [
        (
            "Chart.yaml",
            format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
        ),
        ("values.yaml", "replicas: 1\n".to_string()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{name}/{file}"), body.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// `archive ls --image-only` of `archive`, as lines.
fn listed(env: &Env, alias: &str, archive: &str) -> Vec<String> {
    let run = env.run(&["archive", alias, archive, "--image-only"]);
    run.ok();
    run.stdout.lines().map(str::to_string).collect()
}

/// Exit 2 and `text` in the output.
fn usage_error(run: &Run, text: &str) {
    assert_eq!(
        run.code,
        2,
        "expected exit 2 saying {text:?}:\n{}",
        run.output()
    );
    assert!(
        run.output().contains(text),
        "expected {text:?} in:\n{}",
        run.output()
    );
}

/// `load` = `l`; `archive ls` = `list`, `init` = `i`, `merge` = `m`, `export` = `e`,
/// `export file` = `f`, `store` = `s`, `store chart` = `charts`/`c`, `store file` =
/// `files`/`f`: each alias does what its command does.
#[tokio::test(flavor = "multi_thread")]
async fn hangar_aliases_do_what_their_commands_do() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let img = images::single(1801, 3000);
    Pusher::new(&src)
        .push_image("team/app", Some("1"), &img)
        .await;
    let env = Env::new();
    let line = format!("{}/team/app:1", src.addr);
    env.write("list.txt", &format!("{line}\n"));
    env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "a.zip",
        "--tls-verify=false",
    ])
    .ok();

    // archive list = archive ls.
    assert_eq!(listed(&env, "list", "a.zip"), vec![line.as_str()]);
    assert_eq!(listed(&env, "ls", "a.zip"), listed(&env, "list", "a.zip"));

    // archive i = archive init.
    env.run(&["archive", "i", "empty.zip"]).ok();
    assert!(listed(&env, "list", "empty.zip").is_empty());
    env.run(&["archive", "i", "empty.zip"])
        .fails_with("already exists");

    // archive m = archive merge.
    env.run(&[
        "archive",
        "m",
        "-f",
        "a.zip",
        "-f",
        "empty.zip",
        "-o",
        "m.zip",
    ])
    .ok();
    assert_eq!(listed(&env, "list", "m.zip"), vec![line.as_str()]);

    // archive e = archive export.
    env.write("pick.txt", &format!("{line}\n"));
    env.run(&[
        "archive", "e", "-f", "pick.txt", "-s", "m.zip", "-d", "e.zip",
    ])
    .ok();
    assert_eq!(listed(&env, "list", "e.zip"), vec![line.as_str()]);

    // archive s = store; c, charts = chart; f, files = file.
    env.run(&["archive", "init", "store.zip"]).ok();
    std::fs::write(env.path("one-1.0.0.tgz"), chart_tgz("one", "1.0.0")).unwrap();
    std::fs::write(env.path("two-2.0.0.tgz"), chart_tgz("two", "2.0.0")).unwrap();
    env.write("notes.txt", "carried across the gap\n");
    env.write("more.txt", "and this too\n");
    for args in [
        ["archive", "s", "c", "-f", "store.zip", "one-1.0.0.tgz"],
        [
            "archive",
            "store",
            "charts",
            "-f",
            "store.zip",
            "two-2.0.0.tgz",
        ],
        ["archive", "s", "f", "-f", "store.zip", "notes.txt"],
        ["archive", "store", "files", "-f", "store.zip", "more.txt"],
    ] {
        let run = env.run(&args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.output());
    }
    assert_eq!(
        listed(&env, "list", "store.zip"),
        [
            "docker.io/hangar-helm/one:1.0.0",
            "docker.io/hangar-helm/two:2.0.0",
            "docker.io/hangar-file/notes.txt:latest",
            "docker.io/hangar-file/more.txt:latest",
        ]
    );

    // archive e f = archive export file.
    std::fs::remove_file(env.path("notes.txt")).unwrap();
    env.run(&["archive", "e", "f", "-f", "store.zip", "-n", "notes.txt"])
        .ok();
    assert_eq!(
        std::fs::read_to_string(env.path("notes.txt")).unwrap(),
        "carried across the gap\n"
    );

    // l = load.
    env.run(&["l", "-s", "a.zip", "-d", &dst.addr, "--tls-verify=false"])
        .ok();
    let loaded = Pusher::new(&dst).manifest("team/app", "1").await.unwrap();
    assert_eq!(loaded.digest, img.manifest.digest);
    env.run(&["l", "-s", "missing.zip", "-d", &dst.addr])
        .fails_with("missing.zip");

    // The aliases are shown as Hangar's help shows them.
    let help = env.run(&["--help"]);
    help.ok();
    assert!(
        help.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("load ") && l.contains("[alias: l]")),
        "{}",
        help.stdout
    );
    let store_help = env.run(&["archive", "store", "--help"]);
    store_help.ok();
    assert!(
        store_help.stdout.contains("[aliases: charts, c]")
            && store_help.stdout.contains("[aliases: files, f]"),
        "{}",
        store_help.stdout
    );
}

/// `hangar` and `hangar archive` (and `archive store`) with no command print their help and
/// succeed, as Hangar does.
#[test]
fn command_groups_without_a_command_print_help() {
    let env = Env::new();
    for (args, usage) in [
        (vec![], "Usage: hangar [OPTIONS] [COMMAND]"),
        (vec!["archive"], "Usage: hangar archive [OPTIONS] [COMMAND]"),
        (
            vec!["archive", "store"],
            "Usage: hangar archive store [OPTIONS] [COMMAND]",
        ),
    ] {
        let run = env.run(&args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.output());
        assert!(run.stdout.contains(usage), "{args:?}: {}", run.stdout);
        assert!(run.stdout.contains("Commands:"), "{}", run.stdout);
        assert!(run.stderr.is_empty(), "{}", run.stderr);
    }
    let top = env.run(&[]);
    assert!(top.stdout.contains("  mirror"), "{}", top.stdout);
    let archive = env.run(&["archive"]);
    assert!(archive.stdout.contains("  verify"), "{}", archive.stdout);
}

/// `signv1`, `signv1 validate` and `--sigstore-private-key`/`--sigstore-passphrase-file`
/// (hidden in Hangar) are answered with what to use instead, exit 2, and hidden from help;
/// a validate given the flags says it ignores them and validates.
#[tokio::test(flavor = "multi_thread")]
async fn removed_signv1_spellings_say_what_to_use_instead() {
    let (src, dst) = (RegistryServer::plain(), RegistryServer::plain());
    let img = images::single(1802, 2000);
    Pusher::new(&src)
        .push_image("team/app", Some("1"), &img)
        .await;
    let env = Env::new();
    env.write("list.txt", &format!("{}/team/app:1\n", src.addr));
    env.write("pass.txt", "pass\n");

    let signv1 = env.run(&[
        "signv1",
        "-f",
        "list.txt",
        "-k",
        "sigstore.key",
        "--sigstore-passphrase-file",
        "pass.txt",
    ]);
    usage_error(
        &signv1,
        "signv1 was removed: use `hangar sign -f LIST -p KEY`",
    );
    let validate = env.run(&[
        "signv1",
        "validate",
        "-f",
        "list.txt",
        "-p",
        "sigstore.pub",
        "--exact-repository",
        "x",
    ]);
    usage_error(
        &validate,
        "signv1 validate was removed: use `hangar sign validate",
    );
    for run in [&signv1, &validate] {
        assert!(!run.output().contains("unrecognized"), "{}", run.output());
        assert_eq!(
            run.output().matches("removed").count(),
            1,
            "{}",
            run.output()
        );
    }

    // mirror and load would not sign: refused before anything is copied.
    let mirror = env.run(&[
        "mirror",
        "-f",
        "list.txt",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "--sigstore-private-key",
        "sigstore.key",
        "--sigstore-passphrase-file",
        "pass.txt",
    ]);
    usage_error(&mirror, "--sigstore-private-key was removed");
    assert!(mirror.output().contains("hangar sign -f LIST -p KEY"));
    assert!(Pusher::new(&dst).tags("team/app").await.is_empty());
    let passphrase_only = env.run(&[
        "mirror",
        "-f",
        "list.txt",
        "-d",
        &dst.addr,
        "--sigstore-passphrase-file",
        "pass.txt",
    ]);
    usage_error(&passphrase_only, "--sigstore-passphrase-file was removed");

    env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "a.zip",
        "--tls-verify=false",
    ])
    .ok();
    let load = env.run(&[
        "load",
        "-s",
        "a.zip",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "--sigstore-private-key",
        "sigstore.key",
    ]);
    usage_error(&load, "--sigstore-private-key was removed");
    assert!(Pusher::new(&dst).tags("team/app").await.is_empty());

    // The validates check what they always check, with a warning.
    env.mirror(&dst.addr, &[]).ok();
    let mirror_validate = env.run(&[
        "mirror",
        "validate",
        "-f",
        "list.txt",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "--sigstore-private-key",
        "sigstore.key",
    ]);
    mirror_validate.ok();
    let out = mirror_validate.output();
    assert!(
        out.contains(
            "--sigstore-private-key is ignored: mirror validate does not check signatures"
        ) && out.contains("PASS"),
        "{out}"
    );
    let load_validate = env.run(&[
        "load",
        "validate",
        "-s",
        "a.zip",
        "-d",
        &dst.addr,
        "--tls-verify=false",
        "--sigstore-passphrase-file",
        "pass.txt",
    ]);
    load_validate.ok();
    assert!(
        load_validate
            .output()
            .contains("--sigstore-passphrase-file is ignored: load validate"),
        "{}",
        load_validate.output()
    );

    // Hidden, as in Hangar.
    for args in [
        vec!["--help"],
        vec!["mirror", "--help"],
        vec!["load", "--help"],
    ] {
        let help = env.run(&args);
        help.ok();
        assert!(
            !help.stdout.contains("signv1") && !help.stdout.contains("sigstore-private-key"),
            "{args:?}: {}",
            help.stdout
        );
    }
}

/// A TCP port that accepts connections and never answers.
fn silent_host() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    addr
}

/// A loopback port nothing listens on.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    addr
}

/// `login`/`logout` take Hangar's flags: `--compat-auth-file`, `--timeout`, `--retry-times`,
/// `-v/--verbose`, `--cert-dir` (with `--certs-dir` kept hidden), and a refused login says so
/// once.
#[tokio::test(flavor = "multi_thread")]
async fn login_and_logout_take_hangars_flags() {
    let reg = RegistryServer::basic();
    let env = Env::new();
    let login = |extra: &[&str], password: &str| {
        let mut args = vec![
            "login",
            reg.addr.as_str(),
            "-u",
            USER,
            "--password-stdin",
            "--tls-verify=false",
        ];
        args.extend_from_slice(extra);
        env.run_with_stdin(&args, Some(&format!("{password}\n")))
    };

    // A refused login: one line, its context said once, no advice to run `hangar login`.
    let refused = login(&[], "wrong");
    refused.fails_with(&format!(
        "login to {} failed: the registry refused the user name and password",
        reg.addr
    ));
    let error = refused
        .stderr
        .lines()
        .find(|l| l.contains("[ERRO]"))
        .unwrap()
        .to_string();
    assert_eq!(error.matches("login to").count(), 1, "{error}");
    assert!(!error.contains("hangar login"), "{error}");
    assert!(!env.path("auth.json").exists());

    // --compat-auth-file: the Docker-compatible file is written instead; -v says which, with
    // debug logs.
    let docker = env.path("docker.json");
    let good = login(&["--compat-auth-file", "docker.json", "-v"], PASSWORD);
    good.ok();
    assert!(
        good.stdout
            .contains(&format!("Used: {}\nLogin Succeeded!", "docker.json")),
        "{}",
        good.stdout
    );
    assert!(good.stderr.contains("[DEBU]"), "{}", good.stderr);
    let doc: Value = serde_json::from_slice(&std::fs::read(&docker).unwrap()).unwrap();
    assert!(doc["auths"][&reg.addr]["auth"].is_string(), "{doc}");
    assert!(
        !env.path("auth.json").exists(),
        "the auth file is left alone"
    );
    let quiet = login(&["--compat-auth-file", "docker.json"], PASSWORD);
    quiet.ok();
    assert!(!quiet.stdout.contains("Used:") && !quiet.stderr.contains("[DEBU]"));
    let who = env.run(&[
        "login",
        &reg.addr,
        "--get-login",
        "--compat-auth-file",
        "docker.json",
    ]);
    who.ok();
    assert_eq!(who.stdout, format!("{USER}\n"));
    usage_error(
        &login(
            &["--compat-auth-file", "a.json", "--authfile", "b.json"],
            PASSWORD,
        ),
        "cannot be used with",
    );

    // logout takes the same file and Hangar's network flags (it edits a file only).
    let out = env.run(&[
        "logout",
        &reg.addr,
        "--compat-auth-file",
        "docker.json",
        "--timeout",
        "5s",
        "--retry-times",
        "1",
        "--tls-verify=false",
    ]);
    out.ok();
    assert!(out.stdout.contains("Removed login credentials"));
    let doc: Value = serde_json::from_slice(&std::fs::read(&docker).unwrap()).unwrap();
    assert!(doc["auths"].get(&reg.addr).is_none(), "{doc}");

    // --timeout bounds the whole login.
    let silent = silent_host();
    let started = std::time::Instant::now();
    let timed_out = env.run_with_stdin(
        &[
            "login",
            &silent,
            "-u",
            USER,
            "--password-stdin",
            "--timeout",
            "1s",
        ],
        Some("x\n"),
    );
    timed_out.fails_with(&format!(
        "login to {silent} failed: no answer within 1s (--timeout)"
    ));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    // --retry-times: how often a failure that may pass is tried again.
    let closed = closed_port();
    let refused_host = |retries: &str| {
        env.run_with_stdin(
            &[
                "login",
                &closed,
                "-u",
                USER,
                "--password-stdin",
                "--retry-times",
                retries,
            ],
            Some("x\n"),
        )
    };
    let once = refused_host("0");
    once.fails_with(&format!("login to {closed} failed: cannot reach {closed}"));
    assert!(!once.output().contains("retrying"), "{}", once.output());
    let twice = refused_host("2");
    twice.fails_with("cannot reach");
    assert!(
        twice.output().contains("(2/2)") && !twice.output().contains("(3/"),
        "{}",
        twice.output()
    );

    // Every flag has help text; --cert-dir is the one spelling shown.
    let help = env.run(&["login", "--help"]);
    help.ok();
    let text = flat(&help.stdout);
    for entry in [
        "-u, --username <USERNAME> User name",
        "-p, --password <PASSWORD> Password",
        "--password-stdin Read the password from stdin",
        "--authfile <FILE> Auth file to write",
        "--compat-auth-file <FILE> Docker-compatible config file",
        "--cert-dir <DIR> Directory with the registry's certificates",
        "--get-login Print the user name",
        "-v, --verbose Debug logs",
        "--timeout <DURATION> Time limit for the login",
        "--retry-times <N> How many times a login that failed",
        "--tls-verify[=<BOOL>] Require HTTPS",
    ] {
        assert!(text.contains(entry), "{entry}: {}", help.stdout);
    }
    assert!(!text.contains("--certs-dir"), "{}", help.stdout);
    let logout_help = env.run(&["logout", "--help"]);
    logout_help.ok();
    let text = flat(&logout_help.stdout);
    for entry in [
        "--authfile <FILE> Auth file to edit",
        "--compat-auth-file <FILE> Docker-compatible config file",
        "-a, --all Remove the credentials of every registry",
        "--timeout <DURATION> Accepted for Hangar's scripts",
        "--retry-times <N> Accepted for Hangar's scripts",
        "--tls-verify[=<BOOL>] Accepted for Hangar's scripts",
    ] {
        assert!(text.contains(entry), "{entry}: {}", logout_help.stdout);
    }
}

/// Help text with its line wrapping undone.
fn flat(help: &str) -> String {
    help.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `--cert-dir DIR` is the registry's own certificate directory (Hangar's meaning); the
/// hidden `--certs-dir` spelling takes a certs.d-style root as elsewhere in hangar.
#[tokio::test(flavor = "multi_thread")]
async fn login_cert_dir_takes_either_spelling() {
    let reg = RegistryServer::tls_basic();
    let env = Env::new();
    let own_dir = reg.certs_root().join(&reg.addr);
    let root = reg.certs_root();
    let login = |flag: &str, dir: &std::path::Path| {
        env.run_with_stdin(
            &[
                "login",
                &reg.addr,
                "-u",
                USER,
                "--password-stdin",
                flag,
                dir.to_str().unwrap(),
            ],
            Some(&format!("{PASSWORD}\n")),
        )
    };
    // Without the CA the registry's certificate is refused.
    let untrusted = env.run_with_stdin(
        &["login", &reg.addr, "-u", USER, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert_eq!(untrusted.code, 1, "{}", untrusted.output());
    for (flag, dir) in [("--cert-dir", &own_dir), ("--certs-dir", &root)] {
        let run = login(flag, dir);
        run.ok();
        assert!(run.stdout.contains("Login Succeeded!"), "{flag}");
    }
    let doc: Value =
        serde_json::from_slice(&std::fs::read(env.path("auth.json")).unwrap()).unwrap();
    assert!(doc["auths"][&reg.addr]["auth"].is_string(), "{doc}");
}

/// Hangar's overwrite questions for `scan -r`, `sign validate -r` and `view -o`: asked before
/// the work, answered by `-y`; with no terminal and no `-y` the run stops and the file stays.
/// `scan --scanner misconfig,secret,license` warns that only vulnerabilities are scanned.
#[tokio::test(flavor = "multi_thread")]
async fn reports_ask_before_overwriting_and_scan_names_ignored_scanners() {
    let registry = RegistryServer::plain();
    let img = images::single(1803, 2000);
    Pusher::new(&registry)
        .push_image("team/app", Some("1"), &img)
        .await;
    let env = Env::new();
    env.write("list.txt", &format!("{}/team/app:1\n", registry.addr));

    // scan -r
    env.write("scan.json", "old");
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan",
            "-f",
            "list.txt",
            "--tls-verify=false",
            "--format",
            "json",
            "-r",
            "scan.json",
        ];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    let asked = scan(&[]);
    asked.fails_with("File \"scan.json\" already exists! Overwrite?");
    assert!(asked.output().contains("(use -y)"), "{}", asked.output());
    assert!(
        !asked.output().contains("Scanning"),
        "asked before scanning"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("scan.json")).unwrap(),
        "old"
    );
    let scanned = scan(&["-y", "--scanner", "misconfig,secret,license"]);
    scanned.ok();
    let warnings: Vec<&str> = scanned
        .stderr
        .lines()
        .filter(|l| l.contains("--scanner"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning line: {}", scanned.stderr);
    assert!(
        warnings[0].contains("[WARN]")
            && warnings[0].contains("misconfig,secret,license")
            && warnings[0].contains("vulnerabilities only"),
        "{}",
        warnings[0]
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(env.path("scan.json")).unwrap()).unwrap();
    assert_eq!(
        report["results"][0]["reference"],
        format!("{}/team/app:1", registry.addr)
    );

    // sign validate -r
    env.write("pass.txt", "pass\n");
    env.run(&[
        "generate-sigstore-key",
        "-p",
        "k",
        "--passphrase-file",
        "pass.txt",
    ])
    .ok();
    env.write("validate.json", "old");
    let validate = |extra: &[&str]| {
        let mut args = vec![
            "sign",
            "validate",
            "-f",
            "list.txt",
            "-k",
            "k.pub",
            "--tls-verify=false",
            "-r",
            "validate.json",
        ];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    let asked = validate(&[]);
    asked.fails_with("File \"validate.json\" already exists! Overwrite?");
    assert!(
        !asked.output().contains("FAILED"),
        "asked before validating"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("validate.json")).unwrap(),
        "old"
    );
    // The image is unsigned: the run fails, and its report replaced the old file.
    validate(&["-y"]).fails_with("no signature");
    let report: Value =
        serde_json::from_slice(&std::fs::read(env.path("validate.json")).unwrap()).unwrap();
    assert!(report["results"].is_array(), "{report}");

    // view -o: the question comes before the registry is asked.
    env.write("prov.json", "old");
    let closed = closed_port();
    let view = |extra: &[&str]| {
        let image = format!("{closed}/team/app:1");
        let mut args = vec!["view", "provenance", image.as_str(), "-o", "prov.json"];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    let asked = view(&[]);
    asked.fails_with("File \"prov.json\" already exists! Overwrite?");
    assert!(
        !asked.output().contains("cannot reach"),
        "{}",
        asked.output()
    );
    let answered = view(&["-y"]);
    answered.fails_with("cannot reach");
    assert!(!answered.output().contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(env.path("prov.json")).unwrap(),
        "old"
    );
    let help = env.run(&["view", "provenance", "--help"]);
    assert!(help.stdout.contains("-y, --auto-yes"), "{}", help.stdout);
}

/// An archive from Hangar v1.6 or earlier (tar.gz) is named as such by every reader.
#[test]
fn a_pre_1_7_tar_gz_archive_is_named_as_such() {
    let env = Env::new();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let body = b"{}";
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "saved-images/index.json", &body[..])
        .unwrap();
    std::fs::write(
        env.path("saved-images.tar.gz"),
        builder.into_inner().unwrap().finish().unwrap(),
    )
    .unwrap();
    env.write("list.txt", "nginx\n");
    for args in [
        vec!["load", "-s", "saved-images.tar.gz", "-d", "127.0.0.1:1"],
        vec!["archive", "ls", "saved-images.tar.gz"],
        vec!["archive", "verify", "saved-images.tar.gz"],
        vec!["sync", "-f", "list.txt", "-d", "saved-images.tar.gz"],
        vec!["serve", "saved-images.tar.gz", "--addr", "127.0.0.1:0"],
    ] {
        let run = env.run(&args);
        run.fails_with("this is a Hangar archive from before v1.7 (tar.gz)");
        assert!(
            !run.output().contains("not a readable zip archive"),
            "{args:?}: {}",
            run.output()
        );
    }
}

/// `inspect` of a schema1 image prints containers/image's (Hangar's) inspect JSON.
#[tokio::test(flavor = "multi_thread")]
async fn inspect_of_a_schema1_image_prints_its_details() {
    let (plain, s1) = (RegistryServer::plain(), RegistryServer::schema1());
    let layers = [
        images::layer(Format::Docker, 1804, 5_000),
        images::layer(Format::Docker, 1805, 6_000),
    ];
    // skopeo (the peer client) writes a signed schema1 manifest into the schema1 registry.
    let served = seed_schema1(&plain, &s1, &layers).await;
    let env = Env::new();
    let image = format!("{}/legacy/app:s1", s1.addr);
    let run = env.run(&["inspect", "--tls-verify=false", &image]);
    run.ok();
    let info: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(info["Name"], format!("{}/legacy/app", s1.addr));
    assert_eq!(info["Tag"], "s1");
    assert_eq!(info["Digest"], served.digest);
    assert_eq!(info["RepoTags"], serde_json::json!(["s1"]));
    assert_eq!(
        info["MediaType"],
        "application/vnd.docker.distribution.manifest.v1+prettyjws"
    );
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Created"], "2023-11-14T22:13:20Z");
    assert_eq!(info["Env"], serde_json::json!(["PATH=/bin"]));
    assert_eq!(
        info["Labels"]["org.opencontainers.image.title"],
        "hangar-test"
    );
    // Base layer first, as containers/image lists them; schema1 records no sizes.
    assert_eq!(
        info["Layers"],
        serde_json::json!([layers[0].blob.digest, layers[1].blob.digest])
    );
    assert_eq!(info["LayersData"][1]["Digest"], layers[1].blob.digest);
    assert_eq!(info["LayersData"][1]["Size"], -1);
    // --raw is the manifest as served (the registry signs schema1 anew on every GET, so
    // the signatures differ); --config says why there is none.
    let raw = env.run(&["inspect", "--raw", "--tls-verify=false", &image]);
    raw.ok();
    let unsigned = |bytes: &[u8]| {
        let mut m: Value = serde_json::from_slice(bytes).unwrap();
        m.as_object_mut().unwrap().remove("signatures");
        m
    };
    assert_eq!(unsigned(raw.stdout.as_bytes()), unsigned(&served.bytes));
    env.run(&["inspect", "--config", "--tls-verify=false", &image])
        .fails_with("schema1 manifests have no config");
}
