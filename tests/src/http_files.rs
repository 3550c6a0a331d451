//! A plain HTTP file server on 127.0.0.1 (Python's `http.server`, a real server) for inputs
//! that users fetch over HTTP, such as Helm chart repositories. Stopped by PID on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct HttpFiles {
    child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
}

impl HttpFiles {
    /// Serves `dir` read-only.
    pub fn serve(dir: &Path) -> HttpFiles {
        let port = crate::free_port();
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        let addr = format!("127.0.0.1:{port}");
        let server = HttpFiles { child, addr };
        crate::wait_for_port(&server.addr, 10);
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }
}

impl Drop for HttpFiles {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
