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
    signed_by_ca(
        dir,
        "tls.key",
        "tls.crt",
        "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
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
    std::fs::create_dir_all(dir.join("client")).unwrap();
    signed_by_ca(
        dir,
        "client/client.key",
        "client/client.cert",
        "/CN=hangar-test-client",
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    );
}

/// A new key `key` and certificate `crt` (paths relative to `dir`) for `subject`, signed by
/// the CA in `dir` (`ca.crt`/`ca.key`) with the given X.509 extensions.
fn signed_by_ca(dir: &Path, key: &str, crt: &str, subject: &str, extensions: &str) {
    let csr = format!("{crt}.csr");
    let ext = format!("{crt}.ext");
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", &csr, "-subj", subject,
        ],
    );
    std::fs::write(dir.join(&ext), extensions).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-out",
            crt,
            "-extfile",
            &ext,
        ],
    );
}
