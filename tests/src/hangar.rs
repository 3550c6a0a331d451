//! Running the `hangar` binary the way a user does, in an isolated environment (its own
//! HOME, no ambient auth files), capturing output, exit code and peak memory.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The `hangar` binary built by this workspace (`target/<profile>/hangar`), or `$HANGAR_BIN`.
/// A workspace binary older than the sources it is built from (or the plugins it embeds) is
/// refused: the tests would otherwise pass or fail on yesterday's code. `tests/run` builds it
/// first; a bare `cargo test` needs `cargo build -p hangar --bins` before it.
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HANGAR_BIN") {
        return PathBuf::from(p);
    }
    static CHECKED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("current exe");
            // Test binaries live in target/<profile>/deps/, other binaries in target/<profile>/.
            let here = exe.parent().expect("exe dir");
            let binary = [
                here.join("hangar"),
                here.parent().map(|p| p.join("hangar")).unwrap_or_default(),
            ]
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "hangar binary not found next to {}: build it first (cargo build -p hangar --bins)",
                    exe.display()
                )
            });
            assert_fresh(&binary);
            binary
        })
        .clone()
}

/// Panics when a source of the hangar binary changed after it was built.
fn assert_fresh(binary: &std::path::Path) {
    let built = std::fs::metadata(binary)
        .and_then(|m| m.modified())
        .expect("the binary's mtime");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut inputs = vec![root.join("Cargo.lock"), root.join("host")];
    if let Ok(crates) = std::fs::read_dir(root.join("crates")) {
        inputs.extend(crates.flatten().map(|e| e.path()));
    }
    inputs.push(root.join("plugins/target/wasm32-wasip2/release"));
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    let mut pending = inputs;
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.flatten().map(|e| e.path()));
            }
            continue;
        }
        let counts = path
            .extension()
            .is_some_and(|e| e == "rs" || e == "toml" || e == "lock" || e == "wasm" || e == "c");
        if let (true, Ok(modified)) = (counts, meta.modified())
            && newest.as_ref().is_none_or(|(t, _)| modified > *t)
        {
            newest = Some((modified, path));
        }
    }
    if let Some((modified, path)) = newest {
        assert!(
            modified <= built,
            "{} is older than {}: build it first (cargo build -p hangar --bins; tests/run does)",
            binary.display(),
            path.display()
        );
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident memory of the hangar process, in KiB.
    pub max_rss_kb: i64,
}

impl Run {
    /// Asserts the run failed (exit 1) and said `text`.
    pub fn fails_with(&self, text: &str) -> &Self {
        assert_eq!(
            self.code,
            1,
            "expected a failure saying {text:?}:\n{}",
            self.output()
        );
        assert!(
            self.output().contains(text),
            "expected {text:?} in:\n{}",
            self.output()
        );
        self
    }

    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "hangar failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A scratch environment for one test: a working directory and a HOME of its own.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let vars = vec![
            (
                "HOME".to_string(),
                dir.path().join("home").display().to_string(),
            ),
            (
                "REGISTRY_AUTH_FILE".to_string(),
                dir.path().join("auth.json").display().to_string(),
            ),
            // Quick backoff keeps fault tests short; the policy is the same.
            ("HANGAR_RETRY_BASE_MS".to_string(), "20".to_string()),
        ];
        Env { dir, vars }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }

    /// The hangar command with this environment (no ambient auth files or cert dirs).
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("HANGAR_CONFIG")
            .env_remove("DOCKER_CONFIG")
            .env_remove("HANGAR_CERTS_D")
            .env_remove("HANGAR_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts hangar without waiting (for signal tests); stdout/stderr are captured.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn hangar")
    }

    /// `hangar mirror -f list.txt -d DESTINATION --tls-verify=false EXTRA...`: the call most
    /// tests make (test registries are plain HTTP or use the test CA).
    pub fn mirror(&self, destination: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "mirror",
            "-f",
            "list.txt",
            "-d",
            destination,
            "--tls-verify=false",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `hangar save -f LIST -d ARCHIVE --tls-verify=false -j 2 EXTRA...`.
    pub fn save(&self, list: &str, archive: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "save",
            "-f",
            list,
            "-d",
            archive,
            "--tls-verify=false",
            "-j",
            "2",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `hangar load -s ARCHIVE -d REGISTRY --tls-verify=false -j 2 EXTRA...`.
    pub fn load(&self, archive: &str, registry: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "load",
            "-s",
            archive,
            "-d",
            registry,
            "--tls-verify=false",
            "-j",
            "2",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// Writes `script` as `name` here and runs it with the system's python3 (where
    /// tests/install-deps puts python3-cryptography and python3-nacl) in this directory;
    /// returns its stdout, failing the test with its stderr when it fails.
    pub fn python(&self, name: &str, script: &str, args: &[&str]) -> String {
        let script = self.write(name, script);
        let out = Command::new("/usr/bin/python3")
            .arg(&script)
            .args(args)
            .current_dir(self.path(""))
            .output()
            .expect("/usr/bin/python3 (tests/install-deps installs it with its modules)");
        assert!(
            out.status.success(),
            "python {name} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = self.command(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().expect("spawn hangar");
        if let Some(input) = stdin {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out_pipe = child.stdout.take().unwrap();
        let err_pipe = child.stderr.take().unwrap();
        let read = |mut p: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = p.read_to_string(&mut s);
                s
            })
        };
        let out_t = read(Box::new(out_pipe));
        let err_t = read(Box::new(err_pipe));
        // Peak memory: VmHWM is the kernel's high-water mark for this process, sampled until
        // it exits. (wait4's ru_maxrss would be wrong here: a vfork'd child inherits the
        // parent's high-water mark at exec, and the test process holds whole images.)
        let pid = child.id();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut peak = 0i64;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Some(kb) = vm_hwm_kb(pid) {
                        peak = peak.max(kb);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                peak
            })
        };
        let status = child.wait().expect("wait for hangar");
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let max_rss_kb = sampler.join().unwrap();
        use std::os::unix::process::ExitStatusExt as _;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Run {
            code,
            stdout: out_t.join().unwrap(),
            stderr: err_t.join().unwrap(),
            max_rss_kb,
        }
    }
}

/// The `VmHWM` (peak resident set) of a live process, in KiB.
pub fn vm_hwm_kb(pid: u32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The resume journal hangar keeps beside an archive while writing it.
pub fn journal_of(archive: &std::path::Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// The HTTP requests a `plugin test` report lists, one `METHOD URL STATUS` line each
/// (`METHOD URL error: WHY` for a request that got no answer).
pub fn plugin_requests(report: &serde_json::Value) -> Vec<String> {
    report["requests"]
        .as_array()
        .expect("a plugin test report lists its requests")
        .iter()
        .map(|r| {
            let outcome = match r.get("status") {
                Some(status) => status.to_string(),
                None => format!("error: {}", r["error"].as_str().unwrap_or("")),
            };
            format!(
                "{} {} {outcome}",
                r["method"].as_str().unwrap(),
                r["url"].as_str().unwrap()
            )
        })
        .collect()
}
