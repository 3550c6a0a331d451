//! Progress as a person and a machine see it: the live view on a real terminal (driven
//! through tmux), periodic lines when stderr is not a terminal, and JSON events.

use hangar_tests::fault_proxy::{Fault, FaultProxy, Rule};
use hangar_tests::hangar::{Env, bin};
use hangar_tests::images::{self, Format, Platform};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::process::Command;
use std::time::{Duration, Instant};

/// Two images whose copy is held up for `hold` on one layer, behind a proxy.
async fn slow_source(hold: Duration) -> (RegistryServer, FaultProxy, Vec<images::Image>) {
    let src = RegistryServer::plain();
    let sp = Pusher::new(&src);
    let imgs: Vec<images::Image> = (0..2)
        .map(|i| {
            images::image(
                Format::Oci,
                Platform::new("linux", "amd64", None),
                &[images::layer(Format::Oci, 1200 + i, 300_000)],
            )
        })
        .collect();
    for (i, img) in imgs.iter().enumerate() {
        sp.push_image(&format!("prog/app{i}"), Some("1"), img).await;
    }
    let proxy = FaultProxy::start(&src.addr);
    proxy.add(Rule {
        method: "GET",
        path_contains: format!("/blobs/{}", imgs[1].layers[0].digest),
        fault: Fault::Stall(hold),
        times: 1,
    });
    (src, proxy, imgs)
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .expect("tmux must be installed (apt-get install tmux)");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Kills the tmux session when the test ends, also on failure.
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn live_view_on_a_terminal() {
    let (_src, proxy, _imgs) = slow_source(Duration::from_secs(3)).await;
    let dst = RegistryServer::plain();
    let env = Env::new();
    env.write(
        "list.txt",
        &format!("{0}/prog/app0:1\n{0}/prog/app1:1\n", proxy.addr),
    );
    let name = format!("hangar-test-{}", std::process::id());
    let session = Session(name.clone());
    let vars: String = env
        .vars
        .iter()
        .map(|(k, v)| format!("{k}='{v}' "))
        .collect();
    let script = format!(
        "cd '{}' && env {vars} '{}' mirror -f list.txt -d {} --tls-verify=false -j 2; echo EXIT=$?; sleep 60",
        env.dir.path().display(),
        bin().display(),
        dst.addr
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session.0,
        "-x",
        "200",
        "-y",
        "40",
        &script,
    ]);
    // While the second image is held up, the screen shows the live view.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut live = String::new();
    while Instant::now() < deadline {
        live = tmux(&["capture-pane", "-p", "-t", &name]);
        if live.contains("images")
            && live.contains("/s")
            && live.contains("prog/app1")
            && live.contains("ok ")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        live.contains("1/2 images"),
        "overall line while one image is done: {live}"
    );
    assert!(
        live.contains("copied,") && live.contains("/s"),
        "bytes and rate: {live}"
    );
    assert!(
        live.lines()
            .any(|l| l.contains("[2]") && l.contains("prog/app1")),
        "a line for the image in flight: {live}"
    );
    assert!(
        live.lines()
            .any(|l| l.starts_with("ok ") && l.contains("prog/app0")),
        "the finished image: {live}"
    );
    // When it ends the bars are gone and the summary stays.
    let mut end = String::new();
    while Instant::now() < deadline + Duration::from_secs(10) {
        end = tmux(&["capture-pane", "-p", "-t", &name]);
        if end.contains("EXIT=") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(end.contains("EXIT=0"), "{end}");
    assert!(end.contains("copied 2, up to date 0"), "{end}");
    assert!(
        !end.contains("1/2 images"),
        "the live view is cleared at the end: {end}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn periodic_progress_lines_and_json_events_off_a_terminal() {
    let (_src, proxy, imgs) = slow_source(Duration::from_millis(1500)).await;
    let dst = RegistryServer::plain();
    let env = Env::new();
    env.write(
        "list.txt",
        &format!("{0}/prog/app0:1\n{0}/prog/app1:1\n", proxy.addr),
    );
    let run = env.mirror(&dst.addr, &["-j", "2", "--progress-interval", "300ms"]);
    run.ok();
    let progress_lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("[INFO] progress: "))
        .collect();
    assert!(progress_lines.len() >= 2, "{}", run.stderr);
    assert!(
        progress_lines.iter().any(|l| l.contains("1/2 images")),
        "{progress_lines:?}"
    );
    assert!(
        run.stderr.contains("[IMG:1] Copying [") && run.stderr.contains("[IMG:2] Copying ["),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "logs never go to stdout: {}",
        run.stdout
    );

    // Hold the second image up again so the JSON run lasts long enough for a progress tick.
    proxy.add(Rule {
        method: "GET",
        path_contains: format!("/blobs/{}", imgs[1].layers[0].digest),
        fault: Fault::Stall(Duration::from_millis(800)),
        times: 1,
    });
    let dst2 = RegistryServer::plain();
    let json = env.mirror(
        &dst2.addr,
        &["--log-format", "json", "--progress-interval", "200ms"],
    );
    json.ok();
    let events: Vec<serde_json::Value> = json
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let kinds = |k: &str| events.iter().filter(|e| e["event"] == k).count();
    assert_eq!(kinds("image_started"), 2);
    assert_eq!(kinds("image_finished"), 2);
    assert!(kinds("progress") >= 1, "{events:?}");
    assert!(kinds("blob_finished") >= 4, "config + layer for each image");
    let finished: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "image_finished")
        .collect();
    assert!(finished.iter().all(|e| e["ok"] == true));
    assert!(finished.iter().any(|e| {
        e["summary"]
            .as_str()
            .unwrap()
            .contains(&imgs[0].manifest.digest)
    }));
}
