//! A test CA and a leaf certificate for 127.0.0.1/localhost, made with the `openssl` CLI.
//! (rustls refuses a lone self-signed CA certificate used as a server certificate, so a
//! real CA + leaf pair is needed; see shared/reference/testdata.md §1.3.)

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Certs {
    pub ca_crt: PathBuf,
    pub tls_crt: PathBuf,
    pub tls_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl req -x509`: a self-signed certificate `<stem>.crt` with its key `<stem>.key`.
fn self_signed(dir: &Path, stem: &str, subject: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let (key, crt) = (format!("{stem}.key"), format!("{stem}.crt"));
    let mut args = vec![
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-keyout", &key, "-out",
        &crt, "-subj", subject,
    ];
    args.extend_from_slice(extra);
    openssl(dir, &args);
    (dir.join(key), dir.join(crt))
}

pub fn make(dir: &Path) -> Certs {
    self_signed(
        dir,
        "ca",
        "/CN=hangar-test-ca",
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "tls.key",
            "-out",
            "tls.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-out",
            "tls.crt",
            "-extfile",
            "leaf.ext",
        ],
    );
    Certs {
        ca_crt: dir.join("ca.crt"),
        tls_crt: dir.join("tls.crt"),
        tls_key: dir.join("tls.key"),
    }
}

/// A self-signed key pair for signing registry tokens.
pub fn token_signer(dir: &Path) -> (PathBuf, PathBuf) {
    self_signed(dir, "token", "/CN=test-token-issuer", &[])
}

/// A client certificate signed by the CA in `dir`, written as `dir/client/client.{cert,key}`
/// (the names containers' certs.d uses).
pub fn client_cert(dir: &Path) {
    let out = dir.join("client");
    std::fs::create_dir_all(&out).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "client/client.key",
            "-out",
            "client.csr",
            "-subj",
            "/CN=hangar-test-client",
        ],
    );
    std::fs::write(dir.join("client.ext"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-out",
            "client/client.cert",
            "-extfile",
            "client.ext",
        ],
    );
}
