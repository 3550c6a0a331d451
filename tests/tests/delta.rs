//! Delta archives: `save --base OLD.zip` or `--base-inventory` (from `hangar inventory` of the
//! destination) carries only the layers the other side lacks; `load` checks the destination
//! has the rest before pushing anything.

use hangar_tests::hangar::Env;
use hangar_tests::images::{self, Format, Image, Layer, Platform};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::collections::BTreeSet;

/// The images of two months: {1, 2} then {1, 2′, 3}. Every image shares `base`; 2′ adds one
/// layer to 2; 3 is new (its base layer lives in other repositories at the destination).
struct Months {
    base: Layer,
    one: Image,
    two: Image,
    two_next: Image,
    three: Image,
}

fn amd64(layers: &[&Layer]) -> Image {
    let layers: Vec<Layer> = layers.iter().map(|l| (*l).clone()).collect();
    images::image(Format::Oci, Platform::new("linux", "amd64", None), &layers)
}

impl Months {
    fn build() -> Months {
        let base = images::layer(Format::Oci, 2001, 400_000);
        let l1 = images::layer(Format::Oci, 2002, 200_000);
        let l2 = images::layer(Format::Oci, 2003, 300_000);
        let l2b = images::layer(Format::Oci, 2004, 250_000);
        let l3 = images::layer(Format::Oci, 2005, 350_000);
        Months {
            one: amd64(&[&base, &l1]),
            two: amd64(&[&base, &l2]),
            two_next: amd64(&[&base, &l2, &l2b]),
            three: amd64(&[&base, &l3]),
            base,
        }
    }

    async fn push(&self, src: &RegistryServer) {
        let p = Pusher::new(src);
        p.push_image("team/one", Some("1"), &self.one).await;
        p.push_image("team/two", Some("1"), &self.two).await;
        p.push_image("team/two", Some("2"), &self.two_next).await;
        p.push_image("team/three", Some("1"), &self.three).await;
    }

    /// What a delta of {1, 2′, 3} over {1, 2} must hold: every manifest and config, and only
    /// the layers 2′ and 3 add.
    fn delta_blobs(&self) -> BTreeSet<String> {
        let mut blobs = BTreeSet::new();
        for image in [&self.one, &self.two_next, &self.three] {
            blobs.insert(image.manifest.digest.clone());
            blobs.insert(image.config.digest.clone());
        }
        blobs.insert(self.two_next.layers[2].digest.clone());
        blobs.insert(self.three.layers[1].digest.clone());
        blobs
    }

    fn delta_bytes(&self) -> u64 {
        let mut total = 0;
        for image in [&self.one, &self.two_next, &self.three] {
            total += (image.manifest.data.len() + image.config.data.len()) as u64;
        }
        total + self.two_next.layers[2].data.len() as u64 + self.three.layers[1].data.len() as u64
    }
}

fn lists(env: &Env, src: &RegistryServer) {
    env.write(
        "month1.txt",
        &format!("{0}/team/one:1\n{0}/team/two:1\n", src.addr),
    );
    env.write(
        "month2.txt",
        &format!(
            "{0}/team/one:1\n{0}/team/two:2\n{0}/team/three:1\n",
            src.addr
        ),
    );
}

fn save(env: &Env, list: &str, archive: &str, extra: &[&str]) {
    let run = env.save(list, archive, extra);
    assert_eq!(run.code, 0, "{}", run.output());
}

fn load(env: &Env, archive: &str, dst: &RegistryServer) -> hangar_tests::hangar::Run {
    env.load(archive, &dst.addr, &[])
}

/// The `share/sha256/` blobs of an archive, and every entry name.
fn archive_blobs(path: &std::path::Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let file = std::fs::File::open(path).unwrap();
    let zip = zip::ZipArchive::new(file).unwrap();
    let names: BTreeSet<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    let blobs = names
        .iter()
        .filter_map(|n| n.strip_prefix("share/sha256/"))
        .map(|hex| format!("sha256:{hex}"))
        .collect();
    (blobs, names)
}

fn index_of(path: &std::path::Path) -> serde_json::Value {
    let file = std::fs::File::open(path).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let entry = zip.by_name("index.json").unwrap();
    serde_json::from_reader(entry).unwrap()
}

/// Every tag of month 2 at `dst` has its source digest.
async fn assert_month2_loaded(months: &Months, dst: &RegistryServer) {
    let p = Pusher::new(dst);
    for (repo, tag, image) in [
        ("team/one", "1", &months.one),
        ("team/two", "2", &months.two_next),
        ("team/three", "1", &months.three),
    ] {
        let got = p
            .manifest(repo, tag)
            .await
            .unwrap_or_else(|| panic!("{repo}:{tag} missing"));
        assert_eq!(got.digest, image.manifest.digest, "{repo}:{tag}");
        for blob in image.blobs() {
            assert!(
                p.blob_exists(repo, &blob.digest).await,
                "{repo} lacks {}",
                blob.digest
            );
        }
    }
}

/// Month 1 saved to `full.zip` and loaded into `dst`: the source, the images, the workspace.
async fn month1_at(dst: &RegistryServer) -> (RegistryServer, Months, Env) {
    let src = RegistryServer::plain();
    let months = Months::build();
    months.push(&src).await;
    let env = Env::new();
    lists(&env, &src);
    save(&env, "month1.txt", "full.zip", &[]);
    let run = load(&env, "full.zip", dst);
    assert_eq!(run.code, 0, "{}", run.output());
    (src, months, env)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delta_over_an_older_archive_carries_only_what_changed() {
    let dst = RegistryServer::plain();
    let (src, months, env) = month1_at(&dst).await;

    save(&env, "month2.txt", "delta.zip", &["--base", "full.zip"]);
    let (blobs, names) = archive_blobs(&env.path("delta.zip"));
    assert_eq!(blobs, months.delta_blobs());
    assert!(!names.contains(&format!(
        "share/sha256/{}",
        months.base.blob.digest.trim_start_matches("sha256:")
    )));
    let size = std::fs::metadata(env.path("delta.zip")).unwrap().len();
    let payload = months.delta_bytes();
    assert!(
        size >= payload && (size - payload) * 20 <= payload,
        "delta is {size} bytes for {payload} bytes of new blobs"
    );
    // The index says what it is and what it relies on: the base layer, 1's and 2's layers.
    let index = index_of(&env.path("delta.zip"));
    let delta = &index["delta"];
    assert_eq!(delta["bases"][0]["kind"], "archive");
    assert_eq!(delta["bases"][0]["name"], "full.zip");
    let relied: BTreeSet<&str> = delta["relies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["digest"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> = [
        months.base.blob.digest.as_str(),
        months.one.layers[1].digest.as_str(),
        months.two.layers[1].digest.as_str(),
    ]
    .into();
    assert_eq!(relied, expected);
    let ls = env.run(&["archive", "ls", "delta.zip"]);
    assert_eq!(ls.code, 0, "{}", ls.output());
    let out = ls.output();
    assert!(
        out.contains("Delta archive: relies on 3 blobs (")
            && out.contains("from archive full.zip (sha256:"),
        "{out}"
    );
    assert!(
        out.contains("team/one:1 | amd64 | linux | 0.00K | (delta: 2 layers from the base)"),
        "{out}"
    );
    let verify = env.run(&["archive", "verify", "delta.zip"]);
    assert_eq!(verify.code, 0, "{}", verify.output());
    assert!(
        verify.output().contains("0 problems"),
        "{}",
        verify.output()
    );
    assert_eq!(
        verify.output().matches("Relies on sha256:").count(),
        3,
        "{}",
        verify.output()
    );

    // sync takes bases too: into an empty archive it writes the same delta.
    assert_eq!(env.run(&["archive", "init", "synced.zip"]).code, 0);
    let synced = env.run(&[
        "sync",
        "-f",
        "month2.txt",
        "-d",
        "synced.zip",
        "--base",
        "full.zip",
        "--tls-verify=false",
    ]);
    assert_eq!(synced.code, 0, "{}", synced.output());
    assert_eq!(
        archive_blobs(&env.path("synced.zip")).0,
        months.delta_blobs()
    );
    assert_eq!(
        index_of(&env.path("synced.zip"))["delta"]["relies"],
        delta["relies"]
    );

    // Exported from the delta, the images are a delta of the same base.
    let export = env.run(&[
        "archive",
        "export",
        "-f",
        "month2.txt",
        "-s",
        "delta.zip",
        "-d",
        "exported.zip",
    ]);
    assert_eq!(export.code, 0, "{}", export.output());
    assert_eq!(
        archive_blobs(&env.path("exported.zip")).0,
        months.delta_blobs()
    );
    let exported = index_of(&env.path("exported.zip"));
    assert_eq!(exported["delta"]["relies"], delta["relies"]);
    assert_eq!(exported["delta"]["bases"], delta["bases"]);

    // save validate counts what the delta relies on as held: its base has it.
    let validate = env.run(&[
        "save",
        "validate",
        "-f",
        "month2.txt",
        "-d",
        "delta.zip",
        "--tls-verify=false",
    ]);
    assert_eq!(validate.code, 0, "{}", validate.output());
    assert_eq!(
        validate.output().matches("PASS").count(),
        3,
        "{}",
        validate.output()
    );

    // The delta merged onto its base is the full archive of both months: the same images
    // (source, tag, manifests) and the same blobs as a full save of them.
    env.write(
        "both.txt",
        &format!(
            "{0}/team/one:1\n{0}/team/two:1\n{0}/team/two:2\n{0}/team/three:1\n",
            src.addr
        ),
    );
    save(&env, "both.txt", "both.zip", &[]);
    let merged = env.run(&[
        "archive",
        "merge",
        "full.zip",
        "delta.zip",
        "-o",
        "merged.zip",
    ]);
    assert_eq!(merged.code, 0, "{}", merged.output());
    assert_eq!(
        archive_blobs(&env.path("merged.zip")).0,
        archive_blobs(&env.path("both.zip")).0
    );
    let images_of = |name: &str| -> BTreeSet<String> {
        let index = index_of(&env.path(name));
        assert!(index.get("delta").is_none(), "{name} is a full archive");
        index["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let digests: Vec<&str> = i["images"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["digest"].as_str().unwrap())
                    .collect();
                format!("{}:{} {digests:?}", i["source"], i["tag"])
            })
            .collect()
    };
    assert_eq!(images_of("merged.zip"), images_of("both.zip"));
    let verify = env.run(&["archive", "verify", "merged.zip"]);
    assert!(
        verify.output().contains("0 problems"),
        "{}",
        verify.output()
    );
    // Without its base, a delta cannot become whole: the merge says which base it needs.
    let unrelated = images::single(2011, 1000);
    Pusher::new(&src)
        .push_image("lone/x", Some("1"), &unrelated)
        .await;
    env.write("lone.txt", &format!("{}/lone/x:1\n", src.addr));
    save(&env, "lone.txt", "lone.zip", &[]);
    let refused = env.run(&["archive", "merge", "delta.zip", "lone.zip", "-o", "no2.zip"]);
    assert_eq!(refused.code, 1, "{}", refused.output());
    assert!(
        refused
            .output()
            .contains("delta.zip is a delta: 3 of the blobs it relies on")
            && refused.output().contains("archive full.zip"),
        "{}",
        refused.output()
    );
    assert!(!env.path("no2.zip").exists());

    // Into an empty registry: refused before anything is pushed, one line per image.
    let empty = RegistryServer::plain();
    let refused = load(&env, "delta.zip", &empty);
    assert_eq!(refused.code, 1, "{}", refused.output());
    let out = refused.output();
    for image in ["team/one:1", "team/two:2", "team/three:1"] {
        assert_eq!(
            out.lines()
                .filter(|l| l.contains(image) && l.contains("the destination lacks"))
                .count(),
            1,
            "{out}"
        );
    }
    assert!(out.contains("archive full.zip"), "{out}");
    assert!(out.contains("nothing was pushed"), "{out}");
    let p = Pusher::new(&empty);
    for repo in ["team/one", "team/two", "team/three"] {
        assert!(p.tags(repo).await.is_empty(), "{repo} was pushed to");
    }

    // Into the registry that has month 1: everything, with the source digests; 3's base
    // layer came from another repository there (mounted, not carried).
    let run = load(&env, "delta.zip", &dst);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_month2_loaded(&months, &dst).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delta_over_an_inventory_of_the_destination() {
    // Two names per catalog page: the inventory must follow the registry's Link headers.
    let dst = RegistryServer::plain_paging(2);
    let (src, months, env) = month1_at(&dst).await;
    let other = images::single(2010, 1000);
    Pusher::new(&dst)
        .push_image("other/x", Some("1"), &other)
        .await;

    let inventory = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "inventory",
            "-d",
            &dst.addr,
            "-o",
            out,
            "--tls-verify=false",
        ];
        args.extend_from_slice(extra);
        let run = env.run(&args);
        assert_eq!(run.code, 0, "{}", run.output());
        let text = std::fs::read_to_string(env.path(out)).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let inv = inventory("inventory.json", &[]);
    assert_eq!(inv["version"], "hangar.inventory/v1");
    assert_eq!(inv["registry"], dst.addr.as_str());
    let names: Vec<&str> = inv["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other/x", "team/one", "team/two"]);
    let two = &inv["repositories"][2];
    assert_eq!(two["tags"]["1"], months.two.manifest.digest.as_str());
    let manifest = &two["manifests"][months.two.manifest.digest.as_str()];
    assert_eq!(manifest["config"], months.two.config.digest.as_str());
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        layers,
        [
            months.base.blob.digest.as_str(),
            months.two.layers[1].digest.as_str()
        ]
    );
    // The id names the content: the same registry gives the same id.
    let again = inventory("again.json", &[]);
    assert!(inv["id"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(inv["id"], again["id"]);
    assert_ne!(inv["created"], serde_json::Value::Null);
    // A list limits it to the repositories it names.
    env.write("only.txt", &format!("{}/team/one:1\n", src.addr));
    let only = inventory("only.json", &["-f", "only.txt"]);
    assert_eq!(only["repositories"].as_array().unwrap().len(), 1);
    assert_eq!(only["repositories"][0]["name"], "team/one");

    save(
        &env,
        "month2.txt",
        "delta.zip",
        &["--base-inventory", "inventory.json"],
    );
    let (blobs, _) = archive_blobs(&env.path("delta.zip"));
    assert_eq!(blobs, months.delta_blobs());
    let index = index_of(&env.path("delta.zip"));
    assert_eq!(index["delta"]["bases"][0]["kind"], "inventory");
    assert_eq!(index["delta"]["bases"][0]["id"], inv["id"]);
    assert_eq!(index["delta"]["bases"][0]["registry"], dst.addr.as_str());

    let empty = RegistryServer::plain();
    let refused = load(&env, "delta.zip", &empty);
    assert_eq!(refused.code, 1, "{}", refused.output());
    assert!(
        refused.output().contains("the inventory inventory.json of"),
        "{}",
        refused.output()
    );
    let run = load(&env, "delta.zip", &dst);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_month2_loaded(&months, &dst).await;
}
