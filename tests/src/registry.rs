//! Real registries: Debian's `docker-registry` (CNCF distribution 2.8) as a child process on
//! 127.0.0.1, plain or TLS, open or behind htpasswd Basic auth or bearer tokens, optionally
//! with schema1 support. Killed by PID when the handle drops.

use crate::token_server::TokenServer;
use crate::{certs, free_port};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub const USER: &str = "testuser";
pub const PASSWORD: &str = "testpass";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic,
    Token,
}

#[derive(Clone, Copy, Debug)]
pub struct Flavour {
    pub tls: bool,
    /// Require client certificates signed by the test CA (implies TLS).
    pub mtls: bool,
    pub auth: Auth,
    pub schema1: bool,
}

pub struct RegistryServer {
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub flavour: Flavour,
    pub dir: tempfile::TempDir,
    child: Child,
    _token: Option<TokenServer>,
}

fn registry_binary() -> PathBuf {
    let path = std::env::var_os("HANGAR_TEST_REGISTRY")
        .map(PathBuf::from)
        .unwrap_or_else(|| "docker-registry".into());
    match Command::new(&path)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => path,
        _ => panic!(
            "the tests need Debian's docker-registry (CNCF distribution 2.8): apt-get install docker-registry \
             (or set HANGAR_TEST_REGISTRY to its path)"
        ),
    }
}

impl RegistryServer {
    pub fn plain() -> Self {
        Self::start(Flavour {
            mtls: false,
            tls: false,
            auth: Auth::None,
            schema1: false,
        })
    }
    pub fn tls_basic() -> Self {
        Self::start(Flavour {
            mtls: false,
            tls: true,
            auth: Auth::Basic,
            schema1: false,
        })
    }
    pub fn basic() -> Self {
        Self::start(Flavour {
            mtls: false,
            tls: false,
            auth: Auth::Basic,
            schema1: false,
        })
    }
    pub fn token() -> Self {
        Self::start(Flavour {
            mtls: false,
            tls: false,
            auth: Auth::Token,
            schema1: false,
        })
    }
    pub fn tls() -> Self {
        Self::start(Flavour {
            mtls: false,
            tls: true,
            auth: Auth::None,
            schema1: false,
        })
    }
    pub fn schema1() -> Self {
        Self::start(Flavour {
            mtls: false,
            tls: false,
            auth: Auth::None,
            schema1: true,
        })
    }

    /// TLS that demands a client certificate; `client_cert_dir()` holds one signed by its CA.
    pub fn mtls() -> Self {
        Self::start(Flavour {
            tls: true,
            mtls: true,
            auth: Auth::None,
            schema1: false,
        })
    }

    pub fn start(flavour: Flavour) -> Self {
        Self::launch(flavour, false)
    }

    /// A plain registry that logs every request it answers (`requests()` counts them): the
    /// scale benchmark reports requests per image.
    pub fn plain_counting() -> Self {
        Self::launch(
            Flavour {
                mtls: false,
                tls: false,
                auth: Auth::None,
                schema1: false,
            },
            true,
        )
    }

    /// How many requests a `plain_counting` registry has answered so far.
    pub fn requests(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("registry.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" HTTP/1.1\" "))
            .count()
    }

    /// A plain registry answering at most `entries` names per catalog or tag-list page
    /// (`catalog.maxentries`), so clients must follow its `Link` headers.
    pub fn plain_paging(entries: usize) -> Self {
        let flavour = Flavour {
            mtls: false,
            tls: false,
            auth: Auth::None,
            schema1: false,
        };
        Self::launch_with(
            flavour,
            false,
            &format!("catalog: {{maxentries: {entries}}}\n"),
        )
    }

    fn launch(flavour: Flavour, access_log: bool) -> Self {
        Self::launch_with(flavour, access_log, "")
    }

    fn launch_with(flavour: Flavour, access_log: bool, extra_config: &str) -> Self {
        let binary = registry_binary();
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog: {{level: warn, accesslog: {{disabled: {}}}}}\n\
             storage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\n  maintenance: {{uploadpurging: {{enabled: false}}}}\n\
             http:\n  addr: {addr}\n  secret: not-a-secret-just-for-tests\n",
            !access_log,
            d.join("data").display()
        );
        if flavour.tls {
            let c = certs::make(d);
            if flavour.mtls {
                certs::client_cert(d);
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n    clientcas: [{}]\n",
                    c.tls_crt.display(),
                    c.tls_key.display(),
                    c.ca_crt.display()
                ));
            } else {
                config.push_str(&format!(
                    "  tls: {{certificate: {}, key: {}}}\n",
                    c.tls_crt.display(),
                    c.tls_key.display()
                ));
            }
            // A certs.d-style root the client can be pointed at: <root>/<addr>/ca.crt.
            let host_dir = d.join("certs.d").join(&addr);
            std::fs::create_dir_all(&host_dir).unwrap();
            std::fs::copy(&c.ca_crt, host_dir.join("ca.crt")).unwrap();
        }
        let mut token = None;
        match flavour.auth {
            Auth::None => {}
            Auth::Basic => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", USER, PASSWORD])
                    .output()
                    .expect("htpasswd must be installed (apt-get install apache2-utils)");
                assert!(out.status.success());
                std::fs::write(d.join("htpasswd"), out.stdout).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd: {{realm: basic-realm, path: {}}}\n",
                    d.join("htpasswd").display()
                ));
            }
            Auth::Token => {
                let (key, crt) = certs::token_signer(d);
                let server = TokenServer::start(&key, &crt, USER, PASSWORD);
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: http://{}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                    server.addr,
                    crt.display()
                ));
                token = Some(server);
            }
        }
        if flavour.schema1 {
            config.push_str("compatibility: {schema1: {enabled: true}}\n");
        }
        config.push_str(extra_config);
        let config_path = d.join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(d.join("registry.log")).unwrap();
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        crate::wait_for_port(&addr, 20);
        RegistryServer {
            addr,
            flavour,
            dir,
            child,
            _token: token,
        }
    }

    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.flavour.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// A certs.d-style root holding this registry's CA (TLS flavours only).
    pub fn certs_root(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    /// `client.cert` + `client.key` signed by this registry's CA (mTLS flavour only).
    pub fn client_cert_dir(&self) -> PathBuf {
        self.dir.path().join("client")
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes a containers auth file holding this registry's credentials.
    pub fn write_auth_file(&self, path: &std::path::Path) {
        crate::fault_proxy::write_basic_auth_file(path, &self.addr, (USER, PASSWORD));
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
