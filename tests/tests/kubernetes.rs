//! The Kubernetes manifests hangar ships for sharded runs (issue 17): the Helm chart in
//! package/helm/hangar, rendered by the test renderer (helm is not on the test machines), must
//! equal the plain manifests in package/kubernetes, pass Kubernetes' own schemas with default
//! and other values, and give each pod of an Indexed Job its own part of the list.
//!
//! `HANGAR_RENDER_CHART=1 cargo test -p hangar-tests --test kubernetes` rewrites
//! package/kubernetes from the chart instead of comparing.

use hangar_tests::helm::{self, Chart, Release};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The oldest Kubernetes with every field the Jobs use GA (backoffLimitPerIndex: 1.33), and the
/// newest kubernetes-validate knows.
const KUBERNETES: [&str; 2] = ["1.33.0", "1.37.0"];

const RELEASE: Release = Release {
    name: "hangar",
    namespace: "default",
};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chart() -> Chart {
    Chart::load(&workspace().join("package/helm/hangar")).unwrap()
}

fn render(chart: &Chart, values: &Yaml) -> BTreeMap<String, String> {
    chart.render(values, &RELEASE).unwrap()
}

/// Values: the chart's defaults with `changes` set (`helm --set`).
fn values(chart: &Chart, changes: &[(&str, Yaml)]) -> Yaml {
    let mut values = chart.values.clone();
    for (path, value) in changes {
        helm::set(&mut values, path, value.clone());
    }
    values
}

const REGENERATE: &str = "HANGAR_RENDER_CHART=1 cargo test -p hangar-tests --test kubernetes";

/// What package/kubernetes holds: every manifest of the chart with its default values, plus the
/// merge Job (off at install), rendered with merge.enabled=true.
fn plain_manifests(chart: &Chart) -> BTreeMap<String, String> {
    let defaults = render(chart, &chart.values);
    let merging = render(chart, &values(chart, &[("merge.enabled", true.into())]));
    let mut files = BTreeMap::new();
    for (name, text) in &merging {
        if !name.ends_with(".yaml") {
            continue;
        }
        let how = if defaults.contains_key(name) {
            assert_eq!(
                defaults[name], *text,
                "{name}: merge.enabled changes more than the merge Job"
            );
            "with default values"
        } else {
            "with default values and merge.enabled=true"
        };
        let header = format!(
            "# Generated from package/helm/hangar by the test renderer (tests/src/helm.rs) {how}, \
             release hangar in namespace default; to regenerate: {REGENERATE}\n"
        );
        files.insert(name.clone(), format!("{header}{}\n", text.trim()));
    }
    files
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn plain_manifests_are_the_chart_rendered_with_default_values() {
    let chart = chart();
    let dir = workspace().join("package/kubernetes");
    let files = plain_manifests(&chart);
    assert_eq!(
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "archives-pvc.yaml",
            "configmap.yaml",
            "merge-job.yaml",
            "mirror-job.yaml",
            "save-job.yaml"
        ]
    );
    if std::env::var("HANGAR_RENDER_CHART").as_deref() == Ok("1") {
        for stale in yaml_files(&dir) {
            std::fs::remove_file(stale).unwrap();
        }
        for (name, text) in &files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        eprintln!("wrote {} manifests to {}", files.len(), dir.display());
        return;
    }
    let committed: BTreeMap<String, String> = yaml_files(&dir)
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    for (name, text) in &files {
        let Some(on_disk) = committed.get(name) else {
            panic!("package/kubernetes/{name} is missing; {REGENERATE} writes it");
        };
        assert!(
            on_disk == text,
            "package/kubernetes/{name} differs from the chart rendered; {REGENERATE} rewrites it"
        );
    }
    for name in committed.keys() {
        assert!(
            files.contains_key(name),
            "package/kubernetes/{name} is not rendered from the chart"
        );
    }
    // helm install never creates the merge Job together with the save Job it must follow.
    assert!(!render(&chart, &chart.values).contains_key("merge-job.yaml"));
}

#[test]
fn chart_app_version_is_the_workspace_version_and_the_default_tag() {
    let cargo = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    let package = cargo
        .split("[workspace.package]")
        .nth(1)
        .expect("[workspace.package]");
    let version = package
        .lines()
        .find_map(|l| l.strip_prefix("version = "))
        .expect("workspace version")
        .trim_matches('"');
    let chart = chart();
    assert_eq!(chart.metadata["appVersion"].as_str(), Some(version));
    let job = document(&render(&chart, &chart.values)["mirror-job.yaml"]);
    assert_eq!(
        container(&job)["image"].as_str(),
        Some(format!("hangar:{version}").as_str())
    );
    let tagged = values(
        &chart,
        &[
            ("image.repository", "registry.internal/tools/hangar".into()),
            ("image.tag", "v9".into()),
        ],
    );
    let job = document(&render(&chart, &tagged)["save-job.yaml"]);
    assert_eq!(
        container(&job)["image"].as_str(),
        Some("registry.internal/tools/hangar:v9")
    );
}

fn document(text: &str) -> Yaml {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

fn pod_spec(job: &Yaml) -> &Yaml {
    &job["spec"]["template"]["spec"]
}

fn container(job: &Yaml) -> &Yaml {
    &pod_spec(job)["containers"][0]
}

fn strings(list: &Yaml) -> Vec<&str> {
    list.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {list:?}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// The value following `flag` in `args`.
fn flag<'a>(args: &[&'a str], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| *a == flag)
        .unwrap_or_else(|| panic!("{flag} not in {args:?}"));
    args[at + 1]
}

/// What makes an Indexed Job of `shards` pods each run its own part, retried on its own.
fn assert_sharded(job: &Yaml, shards: u64, command: &str) {
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(spec["completions"].as_u64(), Some(shards));
    assert_eq!(spec["parallelism"].as_u64(), Some(shards));
    assert_eq!(spec["backoffLimitPerIndex"].as_u64(), Some(2));
    assert_eq!(pod_spec(job)["restartPolicy"].as_str(), Some("Never"));
    let hangar = container(job);
    assert_eq!(hangar["name"].as_str(), Some("hangar"));
    let args = strings(&hangar["args"]);
    assert_eq!(args[0], command);
    assert_eq!(
        flag(&args, "--shard"),
        format!("$(JOB_COMPLETION_INDEX)/{shards}")
    );
    assert_eq!(flag(&args, "-j"), "4");
    assert_eq!(flag(&args, "-f"), "/etc/hangar/list/images.txt");

    let rules = spec["podFailurePolicy"]["rules"].as_sequence().unwrap();
    let usage = rules
        .iter()
        .find(|r| r["action"].as_str() == Some("FailIndex"))
        .expect("a FailIndex rule");
    assert_eq!(
        usage["onExitCodes"]["containerName"].as_str(),
        Some("hangar")
    );
    assert_eq!(usage["onExitCodes"]["operator"].as_str(), Some("In"));
    assert_eq!(
        usage["onExitCodes"]["values"].as_sequence().unwrap(),
        &[Yaml::from(2)]
    );
    assert!(rules.iter().any(|r| r["action"].as_str() == Some("Ignore")
        && r["onPodConditions"][0]["type"].as_str() == Some("DisruptionTarget")));

    // Credentials: REGISTRY_AUTH_FILE names the Secret's auth.json where it is mounted.
    let env = |name: &str| {
        hangar["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["name"].as_str() == Some(name))
            .and_then(|e| e["value"].as_str())
            .unwrap_or_else(|| panic!("no {name} in the env"))
            .to_string()
    };
    let mounted = |volume: &str| {
        hangar["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["name"].as_str() == Some(volume))
            .unwrap_or_else(|| panic!("{volume} not mounted"))
            .clone()
    };
    let volume = |name: &str| {
        pod_spec(job)["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no volume {name}"))
            .clone()
    };
    let auth = mounted("auth");
    assert_eq!(auth["readOnly"].as_bool(), Some(true));
    let secret = &volume("auth")["secret"];
    assert_eq!(secret["secretName"].as_str(), Some("hangar-auth"));
    assert_eq!(secret["items"][0]["key"].as_str(), Some("auth.json"));
    assert_eq!(
        env("REGISTRY_AUTH_FILE"),
        format!(
            "{}/{}",
            auth["mountPath"].as_str().unwrap(),
            secret["items"][0]["path"].as_str().unwrap()
        )
    );
    assert_eq!(
        env("HANGAR_CERTS_D"),
        mounted("certs")["mountPath"].as_str().unwrap()
    );
    assert_eq!(
        volume("certs")["configMap"]["optional"].as_bool(),
        Some(true)
    );
    // The list every pod splits the same way.
    assert_eq!(
        volume("list")["configMap"]["name"].as_str(),
        Some("hangar-images")
    );
    assert_eq!(
        Path::new(flag(&args, "-f")).parent(),
        Some(Path::new(mounted("list")["mountPath"].as_str().unwrap()))
    );

    let security = &hangar["securityContext"];
    assert_eq!(security["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(
        hangar["resources"]["limits"]["memory"].as_str(),
        Some("512Mi")
    );
}

#[test]
fn mirror_job_gives_each_pod_its_part_of_the_list() {
    let chart = chart();
    for shards in [3u64, 5] {
        let rendered = render(&chart, &values(&chart, &[("shards", shards.into())]));
        let job = document(&rendered["mirror-job.yaml"]);
        assert_sharded(&job, shards, "mirror");
        let args = strings(&container(&job)["args"]);
        assert_eq!(flag(&args, "-d"), "registry.example.com");
        // The failed list goes to the writable emptyDir (the root filesystem is read-only).
        let failed = flag(&args, "-o");
        let work = container(&job)["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["name"].as_str() == Some("work"))
            .unwrap()["mountPath"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(failed.starts_with(&format!("{work}/")), "{failed}");
        assert!(
            pod_spec(&job)["volumes"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|v| v["name"].as_str() == Some("work") && v["emptyDir"].is_mapping())
        );
    }
}

#[test]
fn save_parts_land_on_one_claim_and_the_merge_reads_every_part() {
    let chart = chart();
    for shards in [3u64, 5] {
        let rendered = render(
            &chart,
            &values(
                &chart,
                &[("shards", shards.into()), ("merge.enabled", true.into())],
            ),
        );
        let save = document(&rendered["save-job.yaml"]);
        assert_sharded(&save, shards, "save");
        let args = strings(&container(&save)["args"]);
        assert_eq!(
            flag(&args, "-d"),
            "/archives/part-$(JOB_COMPLETION_INDEX).zip"
        );
        assert!(args.contains(&"-y"));
        let claim = document(&rendered["archives-pvc.yaml"]);
        assert_eq!(strings(&claim["spec"]["accessModes"]), ["ReadWriteMany"]);
        assert_eq!(
            claim["spec"]["resources"]["requests"]["storage"].as_str(),
            Some("50Gi")
        );

        let merge = document(&rendered["merge-job.yaml"]);
        let steps = pod_spec(&merge)["initContainers"].as_sequence().unwrap();
        let merge_args = strings(&steps[0]["args"]);
        let parts: Vec<&str> = merge_args
            .iter()
            .enumerate()
            .filter(|(_, a)| **a == "-f")
            .map(|(i, _)| merge_args[i + 1])
            .collect();
        let expected: Vec<String> = (0..shards)
            .map(|i| format!("/archives/part-{i}.zip"))
            .collect();
        assert_eq!(parts, expected);
        assert_eq!(flag(&merge_args, "-o"), "/archives/images.zip");
        assert_eq!(
            strings(&steps[1]["args"]),
            ["archive", "verify", "/archives/images.zip"]
        );
        // The last step checks the merged archive holds every listed image.
        let check = strings(&container(&merge)["args"]);
        assert_eq!(&check[..2], ["save", "validate"]);
        assert_eq!(flag(&check, "-d"), "/archives/images.zip");
        assert_eq!(flag(&check, "-f"), "/etc/hangar/list/images.txt");
    }
}

#[test]
fn values_switch_the_parts_they_name() {
    let chart = chart();
    let rendered = render(
        &chart,
        &values(
            &chart,
            &[
                ("save.enabled", false.into()),
                ("merge.enabled", true.into()),
                ("maxFailedIndexes", 1.into()),
                (
                    "mirror.extraArgs",
                    serde_yaml::from_str("[--tls-verify=false]").unwrap(),
                ),
                ("certs.items", Yaml::Sequence(Vec::new())),
                (
                    "imagePullSecrets",
                    serde_yaml::from_str("[{name: pull}]").unwrap(),
                ),
            ],
        ),
    );
    // The merge needs the claim the save creates.
    assert_eq!(
        rendered.keys().map(String::as_str).collect::<Vec<_>>(),
        ["NOTES.txt", "configmap.yaml", "mirror-job.yaml"]
    );
    let job = document(&rendered["mirror-job.yaml"]);
    assert_eq!(job["spec"]["maxFailedIndexes"].as_u64(), Some(1));
    let args = strings(&container(&job)["args"]);
    assert_eq!(args.last(), Some(&"--tls-verify=false"));
    assert_eq!(
        pod_spec(&job)["imagePullSecrets"][0]["name"].as_str(),
        Some("pull")
    );
    let certs = pod_spec(&job)["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"].as_str() == Some("certs"))
        .unwrap()
        .clone();
    assert!(certs["configMap"].get("items").is_none());

    let defaults = render(&chart, &chart.values);
    let job = document(&defaults["mirror-job.yaml"]);
    assert!(job["spec"].get("maxFailedIndexes").is_none());
    assert!(pod_spec(&job).get("imagePullSecrets").is_none());
    let list = document(&defaults["configmap.yaml"]);
    assert_eq!(
        list["data"]["images.txt"].as_str(),
        chart.values["images"].as_str()
    );
    assert_eq!(list["immutable"].as_bool(), Some(true));

    // NOTES.txt tells helm users to wait for the saves before enabling the merge.
    assert!(defaults["NOTES.txt"].contains(
        "kubectl -n default wait --for=condition=complete job/hangar-save --timeout=6h\n  \
         helm upgrade hangar package/helm/hangar -n default --reuse-values --set merge.enabled=true"
    ));
}

/// kubernetes-validate (tests/install-deps puts it in target/test-python), or `None` with a
/// message on a developer's machine without it; CI always has it.
fn kubernetes_validate() -> Option<PathBuf> {
    let tool = workspace().join("target/test-python/bin/kubernetes-validate");
    if tool.is_file() {
        return Some(tool);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing, and CI installs it (tests/install-deps)",
        tool.display()
    );
    eprintln!(
        "skipped: {} is missing; tests/install-deps installs it",
        tool.display()
    );
    None
}

/// Runs kubernetes-validate --strict on `files` for each version in KUBERNETES and asserts that
/// every resource of every file passed.
fn assert_valid(tool: &Path, files: &[PathBuf]) {
    for version in KUBERNETES {
        let out = std::process::Command::new(tool)
            .args(["--strict", "-k", version])
            .args(files)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "kubernetes-validate -k {version}: {}\n{stdout}{stderr}",
            out.status
        );
        let minor = version.trim_end_matches(".0");
        for file in files {
            let text = std::fs::read_to_string(file).unwrap();
            let resources: Vec<Yaml> = serde_yaml::Deserializer::from_str(&text)
                .map(|d| serde::Deserialize::deserialize(d).unwrap())
                .filter(|d: &Yaml| !d.is_null())
                .collect();
            for resource in resources {
                let line = format!(
                    "INFO {} passed for resource {}/{} against version {minor}",
                    file.display(),
                    resource["kind"].as_str().unwrap().to_lowercase(),
                    resource["metadata"]["name"].as_str().unwrap()
                );
                assert!(
                    stdout.lines().any(|l| l == line),
                    "no {line:?} in\n{stdout}{stderr}"
                );
            }
        }
    }
}

#[test]
fn manifests_pass_kubernetes_schemas_strictly() {
    let Some(tool) = kubernetes_validate() else {
        return;
    };
    let chart = chart();
    let dir = tempfile::tempdir().unwrap();
    let committed = if std::env::var("HANGAR_RENDER_CHART").as_deref() == Ok("1") {
        // The folder is being rewritten by the test beside this one: check what it gets.
        let rendered = dir.path().join("rendered");
        std::fs::create_dir(&rendered).unwrap();
        for (name, text) in plain_manifests(&chart) {
            std::fs::write(rendered.join(name), text).unwrap();
        }
        yaml_files(&rendered)
    } else {
        yaml_files(&workspace().join("package/kubernetes"))
    };
    assert_eq!(committed.len(), 5);
    assert_valid(&tool, &committed);

    let variants: [(&str, Vec<(&str, Yaml)>); 3] = [
        (
            "five-shards",
            vec![
                ("shards", 5.into()),
                ("merge.enabled", true.into()),
                ("maxFailedIndexes", 2.into()),
                ("save.storageClassName", "nfs".into()),
                (
                    "save.extraArgs",
                    serde_yaml::from_str("[--arch, amd64]").unwrap(),
                ),
            ],
        ),
        (
            "mirror-only",
            vec![
                ("save.enabled", false.into()),
                (
                    "mirror.extraArgs",
                    serde_yaml::from_str("[--tls-verify=false]").unwrap(),
                ),
                ("certs.items", Yaml::Sequence(Vec::new())),
                (
                    "imagePullSecrets",
                    serde_yaml::from_str("[{name: pull}]").unwrap(),
                ),
                ("auth.optional", true.into()),
            ],
        ),
        (
            "save-only",
            vec![("mirror.enabled", false.into()), ("shards", 2.into())],
        ),
    ];
    let mut files = Vec::new();
    for (name, changes) in variants {
        for (template, text) in render(&chart, &values(&chart, &changes)) {
            if template.ends_with(".yaml") {
                let path = dir.path().join(format!("{name}-{template}"));
                std::fs::write(&path, text).unwrap();
                files.push(path);
            }
        }
    }
    assert_eq!(files.len(), 5 + 2 + 3);
    assert_valid(&tool, &files);
}
