//! `hangar serve ARCHIVE` started on a free 127.0.0.1 port for a test, stopped by PID when
//! the handle drops.

use crate::hangar::Env;

pub struct Serving {
    child: std::process::Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(env: &Env, archive: &str) -> Serving {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = env.spawn(&["serve", archive, "--addr", &addr]);
    let serving = Serving { child, addr };
    for _ in 0..200 {
        if std::net::TcpStream::connect(&serving.addr).is_ok() {
            return serving;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("hangar serve did not start on {}", serving.addr);
}
