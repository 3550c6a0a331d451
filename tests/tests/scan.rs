//! The built-in OSV scanner (a WebAssembly plugin) over images in a real registry: packages
//! from the image's dpkg database (layers merged), matched against an offline OSV database in
//! osv-scanner's layout, with Debian's version order and binary → source package mapping.

use hangar_tests::hangar::Env;
use hangar_tests::images::{Format, Platform, files_layer, image};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use serde_json::{Value, json};
use std::io::Write as _;

const OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";

fn status(expat: &str) -> String {
    format!(
        "Package: libexpat1\nStatus: install ok installed\nArchitecture: amd64\nSource: expat\nVersion: {expat}\nDescription: XML parsing C library\n\n\
         Package: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.11-1~deb12u2\n\n\
         Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n\n\
         Package: bash\nStatus: install ok installed\nArchitecture: amd64\nSource: bash (5.2.15-2)\nVersion: 5.2.15-2+b2\n\n\
         Package: removed-thing\nStatus: deinstall ok config-files\nVersion: 1.0\n"
    )
}

fn advisory(id: &str, cve: &str, name: &str, fixed: &str, vector: Option<&str>) -> Value {
    let mut a = json!({
        "id": id, "aliases": [cve], "summary": format!("{name} - security update"),
        "affected": [{"package": {"ecosystem": "Debian:12", "name": name},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        "references": [{"type": "ADVISORY", "url": format!("https://www.debian.org/security/{}", id.to_lowercase())}],
    });
    if let Some(v) = vector {
        a["severity"] = json!([{"type": "CVSS_V3", "score": v}]);
    }
    a
}

#[tokio::test(flavor = "multi_thread")]
async fn osv_scanner_matches_debian_packages_offline() {
    let registry = RegistryServer::plain();
    let base = files_layer(
        Format::Oci,
        &[
            ("usr/lib/os-release", OS_RELEASE),
            ("etc/os-release", "->../usr/lib/os-release"),
            ("var/lib/dpkg/status", &status("2.5.0-1")),
        ],
    );
    // An upgrade layer: the status file rewritten with the fixed expat.
    let upgrade = files_layer(
        Format::Oci,
        &[("var/lib/dpkg/status", &status("2.5.0-1+deb12u1"))],
    );
    let old = image(
        Format::Oci,
        Platform::new("linux", "amd64", None),
        std::slice::from_ref(&base),
    );
    let patched = image(
        Format::Oci,
        Platform::new("linux", "amd64", None),
        &[base, upgrade],
    );
    let pusher = Pusher::new(&registry);
    pusher.push_image("debian", Some("old"), &old).await;
    pusher.push_image("debian", Some("patched"), &patched).await;

    // The database: osv-scanner's layout (Debian/all.zip) plus a loose JSON advisory.
    let env = Env::new();
    std::fs::create_dir_all(env.path("db/Debian")).unwrap();
    let mut zip =
        zip::ZipWriter::new(std::fs::File::create(env.path("db/Debian/all.zip")).unwrap());
    for a in [
        advisory(
            "DSA-5757-1",
            "CVE-2024-45490",
            "expat",
            "2.5.0-1+deb12u1",
            Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
        ),
        advisory(
            "DSA-5532-1",
            "CVE-2023-5363",
            "openssl",
            "3.0.11-1~deb12u1",
            None,
        ),
        advisory(
            "DSA-9000-1",
            "CVE-2000-1",
            "nginx",
            "1.22.1-9+deb12u1",
            None,
        ),
    ] {
        zip.start_file(
            format!("{}.json", a["id"].as_str().unwrap()),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(a.to_string().as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    std::fs::write(
        env.path("db/DSA-5800-1.json"),
        advisory(
            "DSA-5800-1",
            "CVE-2024-9",
            "zlib",
            "1:1.2.13.dfsg-1+deb12u1",
            Some("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"),
        )
        .to_string(),
    )
    .unwrap();

    let scan = |tag: &str| {
        let run = env.run(&[
            "plugin",
            "test",
            "osv-scanner",
            "scan",
            "--image",
            &format!("{}/debian:{tag}", registry.addr),
            "--option",
            "db=db",
            "--path",
            "db",
            "--tls-verify=false",
        ]);
        assert_eq!(run.code, 0, "{}", run.output());
        serde_json::from_str::<Value>(&run.stdout).unwrap()["result"].clone()
    };
    let report = scan("old");
    assert_eq!(report["os"], "debian 12");
    let packages: Vec<String> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                p["ecosystem"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        packages,
        [
            "libexpat1 2.5.0-1 Debian:12",
            "openssl 3.0.11-1~deb12u2 Debian:12",
            "zlib1g 1:1.2.13.dfsg-1 Debian:12",
            "bash 5.2.15-2+b2 Debian:12"
        ],
        "installed packages only, removed ones left out"
    );
    assert_eq!(
        report["packages"][0]["purl"],
        "pkg:deb/debian/libexpat1@2.5.0-1?arch=amd64&distro=debian-12"
    );
    assert_eq!(
        report["packages"][2]["purl"],
        "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12"
    );
    assert_eq!(report["packages"][0]["source"], "expat");
    let findings: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} {}",
                f["id"].as_str().unwrap(),
                f["package"].as_str().unwrap(),
                f["installed-version"].as_str().unwrap(),
                f["fixed-version"].as_str().unwrap(),
                f["severity"].as_str().unwrap()
            )
        })
        .collect();
    // expat through its binary package; openssl is newer than its fix (~ sorts first);
    // zlib's fix is compared with its epoch.
    assert_eq!(
        findings,
        [
            "DSA-5757-1 libexpat1 2.5.0-1 2.5.0-1+deb12u1 CRITICAL",
            "DSA-5800-1 zlib1g 1:1.2.13.dfsg-1 1:1.2.13.dfsg-1+deb12u1 MEDIUM"
        ]
    );
    assert_eq!(report["findings"][0]["aliases"], json!(["CVE-2024-45490"]));

    // After the upgrade layer, expat is fixed.
    let report = scan("patched");
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["DSA-5800-1"]);

    // The database is read only when granted: without --path the read is refused.
    let refused = env.run(&[
        "plugin",
        "test",
        "osv-scanner",
        "scan",
        "--image",
        &format!("{}/debian:old", registry.addr),
        "--option",
        "db=db",
        "--tls-verify=false",
    ]);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .output()
            .contains("not one of the paths given to this plugin"),
        "{}",
        refused.output()
    );
    // Without a database the scanner still lists packages (what SBOMs need).
    let listed = env.run(&[
        "plugin",
        "test",
        "osv-scanner",
        "scan",
        "--image",
        &format!("{}/debian:old", registry.addr),
        "--tls-verify=false",
    ]);
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed["result"]["packages"].as_array().unwrap().len(), 4);
    assert_eq!(listed["result"]["findings"], json!([]));
}
