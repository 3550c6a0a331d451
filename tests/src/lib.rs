//! The end-to-end test harness: real registries (Debian's `docker-registry`, CNCF
//! distribution 2.8) on 127.0.0.1 at free ports, in every auth and TLS flavour the product
//! must handle, plus a token server, a fault-injecting proxy, an image builder that makes
//! real layers/configs/manifests/indexes, and helpers to run the `hangar` binary.
//!
//! Every server started here is stopped by PID when its handle drops, also when a test fails.

pub mod artifactory;
pub mod certs;
pub mod fault_proxy;
pub mod hangar;
pub mod harbor;
pub mod helm;
pub mod http_files;
pub mod images;
pub mod plugins;
pub mod pusher;
pub mod registry;
pub mod serving;
pub mod token_server;

/// A free TCP port on 127.0.0.1 (bound then released; the race is acceptable for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

/// Polls until a TCP connection to `addr` succeeds (or panics after `secs`).
pub fn wait_for_port(addr: &str, secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nothing listens on {addr} after {secs}s");
}

/// Whether this process may do what only root can (mknod, mount): a test that needs it is
/// skipped with a message on a developer's machine, and fails in CI (`CI=true`), which runs as
/// root, so that nothing is silently left untested there.
pub fn running_as_root(test: &str, needs: &str) -> bool {
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} needs root ({needs}), and CI runs as root"
    );
    eprintln!("skipping {test}: needs root ({needs})");
    false
}

/// A directory of `../shared/fixtures` (real public data), or `None` with a message when it is
/// absent on a developer's machine; in CI (`CI=true`), which always has the fixtures, its
/// absence fails the test instead.
pub fn shared_fixture(relative: &str) -> Option<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(relative);
    if path.is_dir() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is absent, and CI always has the shared fixtures",
        path.display()
    );
    eprintln!("skipped: {} is absent", path.display());
    None
}
