//! The built-in OSV scanner (a WebAssembly plugin) over images in a real registry: packages
//! from the image's dpkg database (layers merged), matched against an offline OSV database in
//! osv-scanner's layout, with Debian's version order and binary → source package mapping.

use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Format, Platform, files_layer, image};
use hangar_tests::plugins::wasm;
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

/// A registry with `debian:old` (expat vulnerable) and `debian:patched` (an upgrade layer fixes
/// it), and an OSV database in `db/` of `env`.
async fn debian_images(env: &Env) -> RegistryServer {
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

    registry
}

#[tokio::test(flavor = "multi_thread")]
async fn osv_scanner_matches_debian_packages_offline() {
    let env = Env::new();
    let registry = debian_images(&env).await;
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
    refused.fails_with("not one of the paths given to this plugin");
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

/// `hangar scan` over the list: every format, failures counted, CI gates.
#[tokio::test(flavor = "multi_thread")]
async fn scan_writes_every_report_format_and_gates_ci() {
    let env = Env::new();
    let registry = debian_images(&env).await;
    env.write(
        "list.txt",
        &format!("{0}/debian:old\n{0}/debian:patched\n", registry.addr),
    );
    let scan = |format: &str, extra: &[&str]| {
        let mut args = vec![
            "scan",
            "-y",
            "-f",
            "list.txt",
            "--db",
            "db",
            "--tls-verify=false",
            "--format",
            format,
            "-a",
            "amd64",
        ];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(env.path(name)).unwrap()).unwrap()
    };

    let json_run = scan("json", &[]);
    assert_eq!(json_run.code, 0, "{}", json_run.output());
    let report = read("scan-report.json");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    // Unlike Hangar, json has the vulnerabilities.
    let ids = |r: &Value| -> Vec<String> {
        r["images"][0]["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&results[0]), ["DSA-5757-1", "DSA-5800-1"]);
    assert_eq!(ids(&results[1]), ["DSA-5800-1"]);
    assert_eq!(results[0]["images"][0]["platform"]["arch"], "amd64");

    assert_eq!(scan("yaml", &[]).code, 0);
    assert!(
        std::fs::read_to_string(env.path("scan-report.yaml"))
            .unwrap()
            .contains("\nresult:\n")
    );
    assert_eq!(scan("csv", &[]).code, 0);
    let csv = std::fs::read_to_string(env.path("scan-report.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "image,arch,os,package,title,id,severity,installed,fixed,url"
    );
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(
        rows[1].contains(
            ",libexpat1,expat - security update,DSA-5757-1,CRITICAL,2.5.0-1,2.5.0-1+deb12u1,"
        ),
        "{}",
        rows[1]
    );

    assert_eq!(scan("trivy-json", &[]).code, 0);
    let trivy = read("scan-report.trivy.json");
    let first = &trivy.as_array().unwrap()[0];
    assert_eq!(first["SchemaVersion"], 2);
    assert_eq!(
        first["Metadata"]["OS"],
        json!({"Family": "debian", "Name": "12"})
    );
    let vuln = &first["Results"][0]["Vulnerabilities"][0];
    assert_eq!(vuln["VulnerabilityID"], "CVE-2024-45490");
    assert_eq!(vuln["VendorIDs"], json!(["DSA-5757-1"]));
    assert_eq!(vuln["PkgName"], "libexpat1");
    assert_eq!(vuln["FixedVersion"], "2.5.0-1+deb12u1");
    assert_eq!(vuln["Severity"], "CRITICAL");

    assert_eq!(scan("sarif", &[]).code, 0);
    let sarif = read("scan-report.sarif");
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 3);
    assert_eq!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(sarif["runs"][0]["results"][0]["level"], "error");

    assert_eq!(scan("cyclonedx", &[]).code, 0);
    let boms = read("scan-report.cdx.json");
    let bom = &boms.as_array().unwrap()[0];
    assert_eq!(
        (bom["bomFormat"].as_str(), bom["specVersion"].as_str()),
        (Some("CycloneDX"), Some("1.5"))
    );
    assert_eq!(bom["components"].as_array().unwrap().len(), 4);
    assert_eq!(
        bom["components"][0]["purl"],
        "pkg:deb/debian/libexpat1@2.5.0-1?arch=amd64&distro=debian-12"
    );
    assert_eq!(bom["vulnerabilities"][0]["affects"][0]["ref"], "pkg-0");

    assert_eq!(scan("spdx-json", &[]).code, 0);
    let spdx = &read("scan-report.spdx.json")["results"][0]["images"][0]["spdx"];
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    assert_eq!(
        spdx["packages"].as_array().unwrap().len(),
        5,
        "the image and its 4 packages"
    );
    assert_eq!(spdx["relationships"][1]["relationshipType"], "CONTAINS");
    // spdx-csv: the same document's packages, one row each, with its ids and licenses.
    assert_eq!(scan("spdx-csv", &[]).code, 0);
    let csv = std::fs::read_to_string(env.path("scan-report.spdx.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "image",
            "arch",
            "os",
            "package",
            "license",
            "versionInfo",
            "supplier",
            "originator",
            "SPDXID"
        ]
    );
    let old_rows: Vec<&Vec<&str>> = rows
        .iter()
        .filter(|r| r[0] == format!("{}/debian:old", registry.addr))
        .collect();
    let packages = &spdx["packages"].as_array().unwrap()[1..];
    assert_eq!(old_rows.len(), packages.len(), "{csv}");
    for (row, package) in old_rows.iter().zip(packages) {
        assert_eq!(
            (row[3], row[4], row[5], row[8]),
            (
                package["name"].as_str().unwrap(),
                package["licenseDeclared"].as_str().unwrap(),
                package["versionInfo"].as_str().unwrap(),
                package["SPDXID"].as_str().unwrap()
            )
        );
    }
    // Valid by the SPDX and CycloneDX projects' own validators.
    std::fs::write(
        env.path("image.spdx.json"),
        serde_json::to_vec_pretty(spdx).unwrap(),
    )
    .unwrap();
    std::fs::write(
        env.path("image.cdx.json"),
        serde_json::to_vec_pretty(bom).unwrap(),
    )
    .unwrap();
    let verdict = validate_sboms(&env, "image.spdx.json", "image.cdx.json");
    assert_eq!(verdict, "spdx: valid\ncyclonedx: valid\n");

    // CI gates: a critical finding exits with the requested code; the patched image passes.
    let gated = scan("json", &["--exit-code", "3", "--severity", "CRITICAL"]);
    assert_eq!(gated.code, 3, "{}", gated.output());
    env.write(
        "patched.txt",
        &format!("{}/debian:patched\n", registry.addr),
    );
    let passes = env.run(&[
        "scan",
        "-y",
        "-f",
        "patched.txt",
        "--db",
        "db",
        "--tls-verify=false",
        "--exit-code",
        "3",
        "--severity",
        "CRITICAL,HIGH",
    ]);
    assert_eq!(passes.code, 0, "{}", passes.output());

    // An image that cannot be scanned fails the run (Hangar exits 0) and is listed.
    env.write(
        "broken.txt",
        &format!("{0}/debian:old\n{0}/debian:missing\n", registry.addr),
    );
    let broken = env.run(&[
        "scan",
        "-y",
        "-f",
        "broken.txt",
        "--db",
        "db",
        "--tls-verify=false",
        "--format",
        "json",
    ]);
    assert_eq!(broken.code, 1, "{}", broken.output());
    assert_eq!(
        std::fs::read_to_string(env.path("scan-failed.txt"))
            .unwrap()
            .trim(),
        format!("{}/debian:missing", registry.addr)
    );
    assert_eq!(
        read("scan-report.json")["results"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the report still has what was scanned"
    );
}

/// A real Debian root filesystem (bookworm minbase, made by mmdebstrap in tests/install-deps)
/// as one layer: hangar lists exactly the packages dpkg itself lists from the same database,
/// with their versions; an advisory about a source package reaches every binary package
/// built from it (by dpkg's own source mapping); SPDX and CycloneDX of ~100 real packages pass
/// the projects' validators.
#[tokio::test(flavor = "multi_thread")]
async fn a_real_debian_rootfs_is_seen_as_dpkg_sees_it() {
    let rootfs = images::debian_rootfs();
    let registry = RegistryServer::plain();
    let debian = image(
        Format::Oci,
        Platform::new("linux", "amd64", None),
        &[images::rootfs_layer(&rootfs)],
    );
    Pusher::new(&registry)
        .push_image("debian", Some("bookworm"), &debian)
        .await;
    let env = Env::new();
    env.write("list.txt", &format!("{}/debian:bookworm\n", registry.addr));

    // dpkg's view of the same status file.
    let admin = env.path("dpkg");
    for dir in ["updates", "info"] {
        std::fs::create_dir_all(admin.join(dir)).unwrap();
    }
    let status = std::process::Command::new("tar")
        .arg("-xOf")
        .arg(&rootfs)
        .arg("./var/lib/dpkg/status")
        .output()
        .unwrap();
    assert!(status.status.success());
    std::fs::write(admin.join("status"), &status.stdout).unwrap();
    let listed = std::process::Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args([
            "-W",
            "-f",
            "${db:Status-Abbrev}|${Package}|${Version}|${source:Package}\n",
        ])
        .output()
        .unwrap();
    assert!(listed.status.success());
    let mut expected = std::collections::BTreeSet::new();
    let mut from_glibc = std::collections::BTreeSet::new();
    for line in String::from_utf8(listed.stdout).unwrap().lines() {
        let fields: Vec<&str> = line.split('|').collect();
        if fields[0].trim() == "ii" {
            expected.insert((fields[1].to_string(), fields[2].to_string()));
            if fields[3] == "glibc" {
                from_glibc.insert(fields[1].to_string());
            }
        }
    }
    assert!(expected.len() > 80, "{} packages", expected.len());
    assert!(from_glibc.contains("libc6"), "{from_glibc:?}");

    // One advisory about the glibc source package, fixed after anything bookworm has.
    std::fs::create_dir_all(env.path("db")).unwrap();
    std::fs::write(
        env.path("db/DSA-9999-1.json"),
        advisory("DSA-9999-1", "CVE-2099-1", "glibc", "9.99-1", None).to_string(),
    )
    .unwrap();
    let scan = |format: &str| {
        let run = env.run(&[
            "scan",
            "-y",
            "-f",
            "list.txt",
            "--db",
            "db",
            "--tls-verify=false",
            "--format",
            format,
        ]);
        assert_eq!(run.code, 0, "{}", run.output());
    };
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(env.path(name)).unwrap()).unwrap()
    };

    scan("cyclonedx");
    let bom = read("scan-report.cdx.json");
    let found: std::collections::BTreeSet<(String, String)> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(found, expected);
    let affected: std::collections::BTreeSet<String> = bom["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["affects"].as_array().unwrap().iter())
        .map(|a| {
            let index: usize = a["ref"].as_str().unwrap()["pkg-".len()..].parse().unwrap();
            bom["components"][index]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(affected, from_glibc);

    scan("spdx-json");
    let spdx = &read("scan-report.spdx.json")["results"][0]["images"][0]["spdx"];
    assert_eq!(
        spdx["packages"].as_array().unwrap().len(),
        expected.len() + 1
    );
    std::fs::write(env.path("debian.spdx.json"), spdx.to_string()).unwrap();
    std::fs::write(env.path("debian.cdx.json"), bom.to_string()).unwrap();
    assert_eq!(
        validate_sboms(&env, "debian.spdx.json", "debian.cdx.json"),
        "spdx: valid\ncyclonedx: valid\n"
    );
}

/// Builds rpm packages from `specs` with rpmbuild and records them in a fresh rpm database
/// with rpm itself (SQLite, as RHEL 9 and its rebuilds keep it); returns the database file
/// and what `rpm -qa` says: (name, [epoch:]version-release, license).
fn rpm_database(
    env: &Env,
    specs: &[&str],
) -> (
    Vec<u8>,
    std::collections::BTreeSet<(String, String, String)>,
) {
    let top = env.path("rpmbuild");
    for (i, spec) in specs.iter().enumerate() {
        let path = env.write(&format!("rpmbuild/SPECS/{i}.spec"), spec);
        let built = std::process::Command::new("rpmbuild")
            .arg("--quiet")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .args(["--define", "debug_package %{nil}", "-bb"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "rpmbuild: {}",
            String::from_utf8_lossy(&built.stderr)
        );
    }
    let db = env.path("rpmdb");
    let rpm = |args: &[&str]| {
        let out = std::process::Command::new("rpm")
            .arg("--dbpath")
            .arg(&db)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rpm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    rpm(&["--initdb"]);
    let mut packages: Vec<String> = Vec::new();
    for dir in std::fs::read_dir(top.join("RPMS")).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            packages.push(file.unwrap().path().display().to_string());
        }
    }
    let mut install = vec!["-i", "--justdb", "--nodeps", "--ignorearch"];
    install.extend(packages.iter().map(String::as_str));
    rpm(&install);
    let listed = rpm(&[
        "-qa",
        "--qf",
        "%{NAME}|%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}|%{LICENSE}\n",
    ]);
    let expected = listed
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect();
    (std::fs::read(db.join("rpmdb.sqlite")).unwrap(), expected)
}

/// An rpm database made by real rpm: every package `rpm -qa` lists is found with its epoch,
/// version, release and license; a header larger than a database page (300 files) is read
/// through its overflow pages; advisories of Rocky Linux 9 match by rpm's version order and
/// binary package name, and the SBOMs stay valid with licenses that are not SPDX ids.
#[tokio::test(flavor = "multi_thread")]
async fn rpm_databases_are_read_as_rpm_reads_them() {
    let env = Env::new();
    let (rpmdb, expected) = rpm_database(
        &env,
        &[
            "Name: openssl\nVersion: 3.0.7\nRelease: 27.el9\nEpoch: 1\nSummary: s\nLicense: ASL 2.0\nBuildArch: noarch\n%description\nd\n\
             %package libs\nSummary: s\n%description libs\nd\n\
             %install\nmkdir -p %{buildroot}/usr/share/openssl-data\nfor i in $(seq 1 300); do echo $i > %{buildroot}/usr/share/openssl-data/a-rather-long-file-name-$i.txt; done\n\
             %files libs\n/usr/share/openssl-data\n",
            "Name: bash\nVersion: 5.1.8\nRelease: 6.el9\nSummary: s\nLicense: GPL-3.0-or-later\nBuildArch: noarch\n%description\nd\n%files\n",
            "Name: tzdata\nVersion: 2024a\nRelease: 1.el9\nSummary: s\nLicense: MIT AND Apache-2.0\nBuildArch: noarch\n%description\nd\n%files\n",
        ],
    );
    assert_eq!(expected.len(), 3, "{expected:?}");
    let registry = RegistryServer::plain();
    let rocky = image(
        Format::Oci,
        Platform::new("linux", "amd64", None),
        &[images::bytes_layer(
            Format::Oci,
            &[
                (
                    "etc/os-release",
                    b"NAME=\"Rocky Linux\"\nVERSION_ID=\"9.3\"\nID=\"rocky\"\n",
                ),
                ("var/lib/rpm/rpmdb.sqlite", &rpmdb),
            ],
        )],
    );
    Pusher::new(&registry)
        .push_image("rocky", Some("9"), &rocky)
        .await;
    env.write("list.txt", &format!("{}/rocky:9\n", registry.addr));
    let rocky_advisory = |id: &str, ecosystem: &str, name: &str, fixed: &str| {
        json!({
            "id": id, "summary": format!("{name} update"),
            "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        })
        .to_string()
    };
    env.write(
        "db/a.json",
        &rocky_advisory(
            "RLSA-2024:0001",
            "Rocky Linux:9",
            "openssl-libs",
            "1:3.0.7-28.el9",
        ),
    );
    env.write(
        "db/b.json",
        &rocky_advisory("RLSA-2024:0002", "Rocky Linux:9", "bash", "5.1.8-6.el9"),
    );
    env.write(
        "db/c.json",
        &rocky_advisory("RLSA-2024:0003", "Rocky Linux:8", "tzdata", "2025a-1.el8"),
    );
    let scan = |format: &str| {
        let run = env.run(&[
            "scan",
            "-y",
            "-f",
            "list.txt",
            "--db",
            "db",
            "--tls-verify=false",
            "--format",
            format,
        ]);
        assert_eq!(run.code, 0, "{}", run.output());
    };
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(env.path(name)).unwrap()).unwrap()
    };

    scan("cyclonedx");
    let bom = read("scan-report.cdx.json");
    let found: std::collections::BTreeSet<(String, String)> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        found,
        expected
            .iter()
            .map(|(n, v, _)| (n.clone(), v.clone()))
            .collect()
    );
    let libs = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "openssl-libs")
        .unwrap();
    assert_eq!(
        libs["purl"],
        "pkg:rpm/rocky/openssl-libs@3.0.7-27.el9?arch=noarch&distro=rocky-9.3&epoch=1"
    );
    assert_eq!(libs["licenses"], json!([{"license": {"name": "ASL 2.0"}}]));
    let ids: Vec<&str> = bom["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["RLSA-2024:0001"],
        "only the openssl-libs advisory of Rocky 9 applies"
    );

    scan("spdx-json");
    let spdx = &read("scan-report.spdx.json")["results"][0]["images"][0]["spdx"];
    assert_eq!(
        spdx["hasExtractedLicensingInfos"],
        json!([{"licenseId": "LicenseRef-ASL-2.0", "extractedText": "ASL 2.0", "name": "ASL 2.0"}])
    );
    std::fs::write(env.path("rocky.spdx.json"), spdx.to_string()).unwrap();
    std::fs::write(env.path("rocky.cdx.json"), bom.to_string()).unwrap();
    assert_eq!(
        validate_sboms(&env, "rocky.spdx.json", "rocky.cdx.json"),
        "spdx: valid\ncyclonedx: valid\n"
    );
}

/// A security team swaps the scanner and the SBOM generator with one config line each, or a
/// flag: the report is then their plugins' work. A plugin of the wrong world, or one that does
/// not write the asked format, is refused before anything is scanned.
#[tokio::test(flavor = "multi_thread")]
async fn scanner_and_sbom_plugins_are_swapped_by_config_or_flag() {
    let registry = RegistryServer::plain();
    let layer = files_layer(
        Format::Oci,
        &[
            ("etc/os-release", OS_RELEASE),
            ("usr/bin/tool", "7.1\n"),
            ("var/lib/dpkg/status", &status("2.5.0-1")),
        ],
    );
    let app = image(
        Format::Oci,
        Platform::new("linux", "amd64", None),
        std::slice::from_ref(&layer),
    );
    Pusher::new(&registry)
        .push_image("team/app", Some("1"), &app)
        .await;
    let env = Env::new();
    env.write("list.txt", &format!("{}/team/app:1\n", registry.addr));
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan",
            "-y",
            "-f",
            "list.txt",
            "--tls-verify=false",
            "--format",
            "spdx-json",
        ];
        args.extend_from_slice(extra);
        let run = env.run(&args);
        assert_eq!(run.code, 0, "{}", run.output());
        let report: Value =
            serde_json::from_slice(&std::fs::read(env.path("scan-report.spdx.json")).unwrap())
                .unwrap();
        let spdx = report["results"][0]["images"][0]["spdx"].clone();
        let names: Vec<String> = spdx["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        (spdx["creationInfo"]["creators"].clone(), names)
    };

    // The built-in pair: osv-scanner reads dpkg, sbom writes the document.
    let (creators, names) = scan(&[]);
    assert_eq!(
        creators,
        json!([
            "Organization: NOASSERTION",
            format!("Tool: hangar-{}", env!("CARGO_PKG_VERSION")),
            "Tool: osv-scanner-0.1.0",
            "Tool: sbom-0.1.0"
        ])
    );
    assert_eq!(
        names[1..],
        ["libexpat1", "openssl", "zlib1g", "bash"],
        "{names:?}"
    );

    // Installed, and chosen by one config line each.
    for plugin in ["census", "tally"] {
        let installed = env.run(&["plugin", "install", wasm(plugin).to_str().unwrap()]);
        assert_eq!(installed.code, 0, "{}", installed.output());
    }
    std::fs::create_dir_all(env.path("home/.config/hangar")).unwrap();
    std::fs::write(
        env.path("home/.config/hangar/config.yaml"),
        "plugins:\n  scanner: census\n  sbom: tally\n",
    )
    .unwrap();
    let (creators, names) = scan(&[]);
    assert_eq!(creators, json!(["Organization: Tally test"]));
    assert_eq!(names, ["tool"], "census reports the files in /usr/bin");

    // A flag overrides the config file.
    let (creators, names) = scan(&["--scanner-plugin", "osv-scanner"]);
    assert_eq!(creators, json!(["Organization: Tally test"]));
    assert_eq!(names, ["libexpat1", "openssl", "zlib1g", "bash"]);

    // Refused up front, with the reason.
    env.run(&[
        "scan",
        "-y",
        "-f",
        "list.txt",
        "--tls-verify=false",
        "--format",
        "cyclonedx",
    ])
    .fails_with("sbom plugin tally: tally 0.2.0 writes spdx-json, not cyclonedx");
    env.run(&[
        "scan",
        "-y",
        "-f",
        "list.txt",
        "--tls-verify=false",
        "--format",
        "spdx-json",
        "--sbom-plugin",
        "census",
    ])
    .fails_with("sbom plugin census: census implements scanner, not sbom-generator");

    // A vendor tries a generator without a registry: a scanner's report in, a document out.
    env.write("rootfs/etc/os-release", OS_RELEASE);
    env.write("rootfs/var/lib/dpkg/status", &status("2.5.0-1"));
    let report = env.run(&[
        "plugin",
        "test",
        "osv-scanner",
        "scan",
        "--rootfs",
        "rootfs",
    ]);
    assert_eq!(report.code, 0, "{}", report.output());
    env.write("report.json", &report.stdout);
    let generated = env.run(&[
        "plugin",
        "test",
        "sbom",
        "generate",
        "cyclonedx",
        "report.json",
    ]);
    assert_eq!(generated.code, 0, "{}", generated.output());
    let bom: Value = serde_json::from_str(&generated.stdout).unwrap();
    let purls: Vec<&str> = bom["result"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["purl"].as_str().unwrap())
        .collect();
    assert_eq!(
        purls,
        [
            "pkg:deb/debian/libexpat1@2.5.0-1?arch=amd64&distro=debian-12",
            "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
            "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12",
            "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12",
        ]
    );
    // Some other JSON is not taken for an empty report.
    env.write("bom.json", &generated.stdout);
    env.run(&[
        "plugin",
        "test",
        "sbom",
        "generate",
        "spdx-json",
        "bom.json",
    ])
    .fails_with("bom.json: not a scanner report (no \"packages\" array)");
}

/// Runs the SPDX project's validator (spdx-tools) and CycloneDX's schema validator
/// (cyclonedx-python-lib) that tests/install-deps puts in target/test-python.
fn validate_sboms(env: &Env, spdx: &str, cyclonedx: &str) -> String {
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-python/bin/python");
    assert!(
        python.is_file(),
        "{}: missing; tests/install-deps creates it",
        python.display()
    );
    let script = r#"
import sys
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
problems = validate_full_spdx_document(parse_file(sys.argv[1]))
print("spdx: " + ("valid" if not problems else "; ".join(p.validation_message for p in problems)))
error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[2]).read())
print("cyclonedx: " + ("valid" if error is None else str(error)))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, spdx, cyclonedx])
        .current_dir(env.path(""))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
