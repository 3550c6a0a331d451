//! Running the `hangar` binary the way a user does, in an isolated environment (its own
//! HOME, no ambient auth files), capturing output, exit code and peak memory.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The `hangar` binary built by this workspace (`target/<profile>/hangar`), or `$HANGAR_BIN`.
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HANGAR_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // Test binaries live in target/<profile>/deps/, other binaries in target/<profile>/.
    let here = exe.parent().expect("exe dir");
    [here.join("hangar"), here.parent().map(|p| p.join("hangar")).unwrap_or_default()]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("hangar binary not found next to {}: build it first (cargo build -p hangar)", exe.display()))
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
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "hangar failed:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
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
            ("HOME".to_string(), dir.path().join("home").display().to_string()),
            ("REGISTRY_AUTH_FILE".to_string(), dir.path().join("auth.json").display().to_string()),
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
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("DOCKER_CONFIG")
            .env_remove("HANGAR_CERTS_D")
            .env_remove("HANGAR_LOG")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn hangar");
        if let Some(input) = stdin {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
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
        // wait4 gives this child's own peak RSS (getrusage(CHILDREN) would mix in registries).
        let mut status = 0;
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = child.id() as libc::pid_t;
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(r, pid, "wait4 failed");
        let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
        Run { code, stdout: out_t.join().unwrap(), stderr: err_t.join().unwrap(), max_rss_kb: usage.ru_maxrss }
    }
}
