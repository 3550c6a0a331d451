//! `hangar plugin new NAME --world W --lang L`: a plugin project that builds and passes `hangar
//! plugin test` as written, outside any workspace: the contract (`wit/plugin.wit`, the one
//! this hangar speaks), the source, a `build` script writing `NAME.wasm`, recorded HTTP answers
//! and a `test` script. Rust uses wit-bindgen directly against the copied contract (no checkout
//! of hangar needed), Python componentize-py, JavaScript componentize-js, each pinned to the
//! version hangar's own plugins are built with.

use super::Status;
use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

/// The contract, as this hangar speaks it.
const CONTRACT: &str = include_str!("../../../wit/plugin.wit");

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum World {
    RegistryAdapter,
    ListGenerator,
    Scanner,
    SbomGenerator,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Args, Debug)]
pub struct NewArgs {
    /// The plugin's name (lower case letters, digits and `-`): the package, `describe().name`
    /// and NAME.wasm
    #[arg(value_name = "NAME")]
    name: String,
    /// The world it implements
    #[arg(long, value_enum)]
    world: World,
    /// The language it is written in
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Where the project goes (default: ./NAME); it must not exist
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(args: NewArgs) -> anyhow::Result<Status> {
    let name = args.name.as_str();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || name.starts_with('-')
    {
        bail!("plugin name {name:?}: use lower case letters, digits and '-'");
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        bail!("{}: already exists", dir.display());
    }
    let files = project(name, args.world, args.lang);
    for (path, text, executable) in &files {
        write(&dir.join(path), text, *executable)?;
    }
    write(&dir.join("wit/plugin.wit"), CONTRACT, false)?;
    tracing::info!(
        "Wrote {} ({} plugin in {}): cd {} && ./build && ./test",
        dir.display(),
        world_name(args.world),
        match args.lang {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        },
        dir.display()
    );
    Ok(Status::Success)
}

fn write(path: &Path, text: &str, executable: bool) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    if executable {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", path.display()))?;
    }
    Ok(())
}

fn world_name(world: World) -> &'static str {
    match world {
        World::RegistryAdapter => "registry-adapter",
        World::ListGenerator => "list-generator",
        World::Scanner => "scanner",
        World::SbomGenerator => "sbom-generator",
    }
}

/// (path, text, executable) of every file but the contract.
fn project(name: &str, world: World, lang: Lang) -> Vec<(&'static str, String, bool)> {
    let fill = |text: &str| {
        text.replace("@NAME@", name)
            .replace("@CRATE@", &name.replace('-', "_"))
            .replace(
                "@WORLD@",
                match world {
                    // The contract's world names (the SBOM world is `sbom-plugin`).
                    World::RegistryAdapter => "registry-adapter-plugin",
                    World::ListGenerator => "list-generator-plugin",
                    World::Scanner => "scanner-plugin",
                    World::SbomGenerator => "sbom-plugin",
                },
            )
    };
    // (test script, Rust source, Python source, JavaScript source) of the world.
    let (test, rust, python, js) = match world {
        World::RegistryAdapter => (TEST_ADAPTER, RUST_ADAPTER, PYTHON_ADAPTER, JS_ADAPTER),
        World::ListGenerator => (
            TEST_GENERATOR,
            RUST_GENERATOR,
            PYTHON_GENERATOR,
            JS_GENERATOR,
        ),
        World::Scanner => (TEST_SCANNER, RUST_SCANNER, PYTHON_SCANNER, JS_SCANNER),
        World::SbomGenerator => (TEST_SBOM, RUST_SBOM, PYTHON_SBOM, JS_SBOM),
    };
    let mut files = vec![
        ("test", fill(test), true),
        ("README.md", fill(README), false),
    ];
    match world {
        World::RegistryAdapter => files.push(("fixtures/http.yaml", fill(FIXTURES), false)),
        World::ListGenerator => files.push(("fixtures/images.txt", IMAGES.to_string(), false)),
        World::Scanner => files.push((
            "fixtures/rootfs/etc/os-release",
            OS_RELEASE.to_string(),
            false,
        )),
        World::SbomGenerator => files.push(("fixtures/report.json", REPORT.to_string(), false)),
    }
    match lang {
        Lang::Rust => {
            files.push(("Cargo.toml", fill(RUST_CARGO), false));
            files.push(("src/lib.rs", fill(rust), false));
            files.push(("build", fill(RUST_BUILD), true));
        }
        Lang::Python => {
            files.push(("app.py", fill(python), false));
            files.push(("build", fill(PYTHON_BUILD), true));
        }
        Lang::Js => {
            files.push(("plugin.js", fill(js), false));
            files.push(("package.json", fill(JS_PACKAGE), false));
            files.push(("componentize.mjs", JS_COMPONENTIZE.to_string(), false));
            files.push(("build", fill(JS_BUILD), true));
        }
    }
    files
}

const README: &str = r##"# @NAME@

A hangar plugin (world `@WORLD@` of `wit/plugin.wit`, the contract hangar speaks).

- `./build` writes `@NAME@.wasm`.
- `./test` runs it with `hangar plugin test` against `fixtures/` (recorded HTTP answers: entries
  match method and URL, `body_contains` if given; repeated requests take them in turn;
  `--strict` fails on a request nothing answers).
- `hangar plugin install @NAME@.wasm` installs it; `hangar plugin push @NAME@.wasm
  REGISTRY/REPO:TAG` carries it to an air gap as an OCI artifact.
"##;

const FIXTURES: &str = r##"# Recorded answers for ./test (hangar plugin test --http-fixtures).
- request: { method: GET, url: "https://registry.example.com/api/ping" }
  response: { status: 200, body: "pong" }
- request: { method: GET, url: "https://registry.example.com/api/namespaces/team" }
  response: { status: 404 }
- request: { method: POST, url: "https://registry.example.com/api/namespaces", body_contains: '"team"' }
  response: { status: 201 }
"##;

const IMAGES: &str = "# One image a line.\nnginx:1.27\nregistry.example.com:5000/team/app:1\n";

const TEST_ADAPTER: &str = r##"#!/usr/bin/env bash
# Runs the plugin's calls against fixtures/http.yaml; exits 1 on a failure or on a request
# no recorded answer matches.
set -euo pipefail
cd "$(dirname "$0")"
hangar=${HANGAR:-hangar}
"$hangar" plugin test @NAME@.wasm describe
"$hangar" plugin test @NAME@.wasm detect registry.example.com --http-fixtures fixtures/http.yaml --strict
"$hangar" plugin test @NAME@.wasm prepare-push registry.example.com team/app --http-fixtures fixtures/http.yaml --strict
"##;

const TEST_GENERATOR: &str = r##"#!/usr/bin/env bash
# Runs the plugin's calls on fixtures/images.txt.
set -euo pipefail
cd "$(dirname "$0")"
hangar=${HANGAR:-hangar}
"$hangar" plugin test @NAME@.wasm describe
"$hangar" plugin test @NAME@.wasm generate --option file=fixtures/images.txt --path fixtures/images.txt
"##;

const RUST_CARGO: &str = r##"[package]
name = "@NAME@"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
wit-bindgen = { version = "0.60", default-features = false, features = ["macros", "realloc", "std"] }

# Its own workspace (not a parent's), and the size profile hangar's plugins use.
[workspace]

[profile.release]
opt-level = "s"
lto = true
strip = true
codegen-units = 1
panic = "abort"
"##;

const RUST_BUILD: &str = r##"#!/usr/bin/env bash
# Builds @NAME@.wasm (rustup target add wasm32-wasip2 once).
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --target wasm32-wasip2
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/@CRATE@.wasm" @NAME@.wasm
ls -l @NAME@.wasm
"##;

const RUST_ADAPTER: &str = r##"//! A registry adapter: recognises its registry, creates the namespaces a push needs, and
//! explains the registry's errors.

wit_bindgen::generate!({ path: "wit", world: "@WORLD@" });

use exports::hangar::plugin::registry_adapter::Guest;
use hangar::plugin::endpoints::registry_url;
use hangar::plugin::http::{Request, send};
use hangar::plugin::log::{Level, log};
use hangar::plugin::types::Info;

struct Plugin;

fn get(url: &str, with_credentials: bool) -> Result<u16, String> {
    let request = Request { method: "GET".into(), url: url.into(), headers: Vec::new(), body: None };
    Ok(send(&request, with_credentials)?.status)
}

impl Guest for Plugin {
    fn describe() -> Info {
        // "$registry": the registry each call is about; other hosts must be named here and
        // allowed by the user.
        Info { name: "@NAME@".into(), version: "0.1.0".into(), hosts: vec!["$registry".into()] }
    }

    fn detect(registry: String) -> Result<bool, String> {
        // The host says how it reaches the registry (https, or plain http when the user
        // allowed it): no need to try both.
        Ok(get(&format!("{}/api/ping", registry_url(&registry)?), false)? == 200)
    }

    fn prepare_push(
        registry: String,
        repositories: Vec<String>,
        _options: Vec<(String, String)>,
    ) -> Result<Vec<String>, String> {
        let base = registry_url(&registry)?;
        let mut notes = Vec::new();
        let mut namespaces: Vec<&str> = repositories.iter().filter_map(|r| r.split('/').next()).collect();
        namespaces.sort();
        namespaces.dedup();
        for namespace in namespaces {
            let url = format!("{base}/api/namespaces/{namespace}");
            if get(&url, true)? == 200 {
                continue;
            }
            let request = Request {
                method: "POST".into(),
                url: format!("{base}/api/namespaces"),
                headers: vec![hangar::plugin::http::Header { name: "content-type".into(), value: "application/json".into() }],
                body: Some(format!("{{\"name\":\"{namespace}\"}}").into_bytes()),
            };
            let status = send(&request, true)?.status;
            if status != 201 {
                return Err(format!("cannot create namespace {namespace}: the registry answered {status}"));
            }
            log(Level::Info, &format!("created namespace {namespace}"));
            notes.push(format!("created namespace {namespace}"));
        }
        Ok(notes)
    }

    fn classify_error(status: u16, _body: String) -> Option<String> {
        (status == 403).then(|| "the registry refused the push: ask for push rights on the namespace".into())
    }
}

export!(Plugin);
"##;

const RUST_GENERATOR: &str = r##"//! A list generator: one image per line of the files named by `file=PATH` options.

wit_bindgen::generate!({ path: "wit", world: "@WORLD@" });

use exports::hangar::plugin::list_generator::{Guest, ImageEntry};
use hangar::plugin::files;
use hangar::plugin::types::Info;

struct Plugin;

impl Guest for Plugin {
    fn describe() -> Info {
        Info { name: "@NAME@".into(), version: "0.1.0".into(), hosts: Vec::new() }
    }

    fn generate(options: Vec<(String, String)>) -> Result<Vec<ImageEntry>, String> {
        let mut images = Vec::new();
        for (key, path) in options {
            if key != "file" {
                return Err(format!("unknown option {key:?} (file=PATH)"));
            }
            // Only paths the user granted (--path) can be read.
            let text = String::from_utf8_lossy(&files::read(&path)?).into_owned();
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                images.push(ImageEntry { reference: line.to_string(), os: None, source: path.clone() });
            }
        }
        Ok(images)
    }
}

export!(Plugin);
"##;

const PYTHON_BUILD: &str = r##"#!/usr/bin/env bash
# Builds @NAME@.wasm with componentize-py (installed into .venv on first use).
set -euo pipefail
cd "$(dirname "$0")"
componentize=${COMPONENTIZE_PY:-}
if [ -z "$componentize" ]; then
  [ -x .venv/bin/componentize-py ] || { python3 -m venv .venv && .venv/bin/pip install -q componentize-py==0.25.1; }
  componentize=.venv/bin/componentize-py
fi
# Only modules imported while the component is built exist inside it: import at the top.
"$componentize" -q -d wit -w @WORLD@ componentize app -p . -o @NAME@.wasm
ls -l @NAME@.wasm
"##;

const PYTHON_ADAPTER: &str = r##""""A registry adapter: recognises its registry, creates the namespaces a push needs, and
explains the registry's errors. An export returning result<T, string> returns T or raises
Err(message)."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import endpoints, http, log
from wit_world.imports.types import Info


def get(url, with_credentials):
    request = http.Request(method="GET", url=url, headers=[], body=None)
    try:
        return http.send(request, with_credentials).status
    except Err as e:
        raise Err(e.value) from None


class RegistryAdapter(exports.RegistryAdapter):
    def describe(self) -> Info:
        return Info(name="@NAME@", version="0.1.0", hosts=["$registry"])

    def detect(self, registry: str) -> bool:
        # The host says how it reaches the registry (https, or plain http when the user
        # allowed it): no need to try both.
        return get(f"{endpoints.registry_url(registry)}/api/ping", False) == 200

    def prepare_push(self, registry, repositories, options):
        base = endpoints.registry_url(registry)
        notes = []
        for namespace in sorted({r.split("/")[0] for r in repositories}):
            if get(f"{base}/api/namespaces/{namespace}", True) == 200:
                continue
            request = http.Request(
                method="POST",
                url=f"{base}/api/namespaces",
                headers=[http.Header(name="content-type", value="application/json")],
                body=json.dumps({"name": namespace}).encode(),
            )
            status = http.send(request, True).status
            if status != 201:
                raise Err(f"cannot create namespace {namespace}: the registry answered {status}")
            log.log(log.Level.INFO, f"created namespace {namespace}")
            notes.append(f"created namespace {namespace}")
        return notes

    def classify_error(self, status, body):
        if status == 403:
            return "the registry refused the push: ask for push rights on the namespace"
        return None
"##;

const PYTHON_GENERATOR: &str = r##""""A list generator: one image per line of the files named by `file=PATH` options. An export
returning result<T, string> returns T or raises Err(message)."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.list_generator import ImageEntry
from wit_world.imports import files
from wit_world.imports.types import Info


class ListGenerator(exports.ListGenerator):
    def describe(self) -> Info:
        return Info(name="@NAME@", version="0.1.0", hosts=[])

    def generate(self, options):
        images = []
        for key, path in options:
            if key != "file":
                raise Err(f"unknown option {key!r} (file=PATH)")
            # Only paths the user granted (--path) can be read.
            text = files.read(path).decode("utf-8", "replace")
            for line in text.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    images.append(ImageEntry(reference=line, os=None, source=path))
        return images
"##;

const JS_PACKAGE: &str = r##"{
  "name": "@NAME@",
  "private": true,
  "type": "module",
  "description": "A hangar plugin: ./build writes @NAME@.wasm",
  "dependencies": {
    "@bytecodealliance/componentize-js": "0.22.0",
    "@bytecodealliance/preview2-shim": "0.26.1"
  }
}
"##;

const JS_BUILD: &str = r##"#!/usr/bin/env bash
# Builds @NAME@.wasm with componentize-js (Node.js >= 20; packages installed on first use).
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules/@bytecodealliance/componentize-js ] || npm install --no-audit --no-fund --loglevel=error
node componentize.mjs plugin.js wit @WORLD@ @NAME@.wasm
ls -l @NAME@.wasm
"##;

const JS_COMPONENTIZE: &str = r##"// componentize-js called as a library: node componentize.mjs SOURCE.js WIT_DIR WORLD OUT.wasm
// (`jco componentize` cannot read a WIT directory with preview2-shim 0.26: the directory is
// preopened here first). Every StarlingMonkey feature is off: the plugin reaches the world
// only through its own imports, so the component imports nothing of WASI.
import { _addPreopen } from '@bytecodealliance/preview2-shim/filesystem';
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

const [source, wit, worldName, out] = process.argv.slice(2);
const witPath = resolve(wit);
_addPreopen(witPath, witPath);
const { component } = await componentize({
  sourcePath: resolve(source),
  witPath,
  worldName,
  disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
"##;

const JS_ADAPTER: &str = r##"// A registry adapter: recognises its registry, creates the namespaces a push needs, and
// explains the registry's errors. An export returning result<T, string> returns T and throws
// a string for the error (a thrown Error object traps); an import returning a result throws.
import { registryUrl } from 'hangar:plugin/endpoints@0.1.1';
import { send } from 'hangar:plugin/http@0.1.1';
import { log } from 'hangar:plugin/log@0.1.1';

function get(url, withCredentials) {
  return send({ method: 'GET', url, headers: [], body: undefined }, withCredentials).status;
}

export const registryAdapter = {
  describe() {
    return { name: '@NAME@', version: '0.1.0', hosts: ['$registry'] };
  },
  detect(registry) {
    // The host says how it reaches the registry (https, or plain http when the user allowed
    // it): no need to try both.
    return get(`${registryUrl(registry)}/api/ping`, false) === 200;
  },
  preparePush(registry, repositories, options) {
    const base = registryUrl(registry);
    const notes = [];
    const namespaces = [...new Set(repositories.map((r) => r.split('/')[0]))].sort();
    for (const namespace of namespaces) {
      if (get(`${base}/api/namespaces/${namespace}`, true) === 200) continue;
      const response = send(
        {
          method: 'POST',
          url: `${base}/api/namespaces`,
          headers: [{ name: 'content-type', value: 'application/json' }],
          body: new TextEncoder().encode(JSON.stringify({ name: namespace })),
        },
        true,
      );
      if (response.status !== 201) {
        throw `cannot create namespace ${namespace}: the registry answered ${response.status}`;
      }
      log('info', `created namespace ${namespace}`);
      notes.push(`created namespace ${namespace}`);
    }
    return notes;
  },
  classifyError(status, body) {
    return status === 403 ? 'the registry refused the push: ask for push rights on the namespace' : undefined;
  },
};
"##;

const JS_GENERATOR: &str = r##"// A list generator: one image per line of the files named by `file=PATH` options. An export
// returning result<T, string> returns T and throws a string for the error.
import { read } from 'hangar:plugin/files@0.1.1';

export const listGenerator = {
  describe() {
    return { name: '@NAME@', version: '0.1.0', hosts: [] };
  },
  generate(options) {
    const images = [];
    for (const [key, path] of options) {
      if (key !== 'file') throw `unknown option ${key} (file=PATH)`;
      // Only paths the user granted (--path) can be read.
      const text = new TextDecoder().decode(read(path));
      for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (line && !line.startsWith('#')) images.push({ reference: line, os: undefined, source: path });
      }
    }
    return images;
  },
};
"##;

const OS_RELEASE: &str = "PRETTY_NAME=\"Example Linux 1.0\"\nID=example\nVERSION_ID=1.0\n";

const REPORT: &str = r##"{
  "os": "example 1.0",
  "packages": [
    {"name": "busybox", "version": "1.36.1-r0", "ecosystem": "Alpine:v3.20", "licenses": ["GPL-2.0-only"]}
  ],
  "findings": []
}
"##;

const TEST_SCANNER: &str = r##"#!/usr/bin/env bash
# Scans fixtures/rootfs (an unpacked image filesystem) as hangar scan would hand it over.
set -euo pipefail
cd "$(dirname "$0")"
hangar=${HANGAR:-hangar}
"$hangar" plugin test @NAME@.wasm describe
"$hangar" plugin test @NAME@.wasm scan --rootfs fixtures/rootfs
"##;

const TEST_SBOM: &str = r##"#!/usr/bin/env bash
# Writes a document of fixtures/report.json (a scanner report) in each format the plugin lists.
set -euo pipefail
cd "$(dirname "$0")"
hangar=${HANGAR:-hangar}
"$hangar" plugin test @NAME@.wasm describe
"$hangar" plugin test @NAME@.wasm formats
"$hangar" plugin test @NAME@.wasm generate names fixtures/report.json
"##;

const RUST_SCANNER: &str = r##"//! A scanner: reads the image's merged filesystem through `fs`, only the files it needs, and
//! reports the operating system (add packages and findings from here).

wit_bindgen::generate!({ path: "wit", world: "@WORLD@" });

use exports::hangar::plugin::scanner::Guest;
use hangar::plugin::image_fs::Filesystem;
use hangar::plugin::types::{Info, Platform, Report};

struct Plugin;

impl Guest for Plugin {
    fn describe() -> Info {
        Info { name: "@NAME@".into(), version: "0.1.0".into(), hosts: Vec::new() }
    }

    fn scan(
        _image: String,
        _platform: Platform,
        fs: &Filesystem,
        _options: Vec<(String, String)>,
    ) -> Result<Report, String> {
        let os = fs.read("/etc/os-release", 0, 64 << 10).ok().and_then(|bytes| {
            String::from_utf8_lossy(&bytes).lines().find_map(|line| {
                line.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())
            })
        });
        Ok(Report { os, packages: Vec::new(), findings: Vec::new() })
    }
}

export!(Plugin);
"##;

const RUST_SBOM: &str = r##"//! An SBOM generator: turns one scanner report into a document ("names": one package a line).

wit_bindgen::generate!({ path: "wit", world: "@WORLD@" });

use exports::hangar::plugin::sbom_generator::{Guest, Subject};
use hangar::plugin::types::{Info, Report};

struct Plugin;

impl Guest for Plugin {
    fn describe() -> Info {
        Info { name: "@NAME@".into(), version: "0.1.0".into(), hosts: Vec::new() }
    }

    fn formats() -> Vec<String> {
        vec!["names".into()]
    }

    fn generate(format: String, subject: Subject, report: Report, created: String) -> Result<String, String> {
        if format != "names" {
            return Err(format!("cannot write {format} (names only)"));
        }
        let mut document = format!("# {} {} {created}\n", subject.image, subject.digest);
        for package in &report.packages {
            document.push_str(&format!("{} {}\n", package.name, package.version));
        }
        Ok(document)
    }
}

export!(Plugin);
"##;

const PYTHON_SCANNER: &str = r##""""A scanner: reads the image's merged filesystem through `fs`, only the files it needs, and
reports the operating system (add packages and findings from here)."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import Info, Report


class Scanner(exports.Scanner):
    def describe(self) -> Info:
        return Info(name="@NAME@", version="0.1.0", hosts=[])

    def scan(self, image, platform, fs, options) -> Report:
        os = None
        try:
            text = fs.read("/etc/os-release", 0, 64 * 1024).decode("utf-8", "replace")
        except Err:
            text = ""
        for line in text.splitlines():
            if line.startswith("PRETTY_NAME="):
                os = line[len("PRETTY_NAME="):].strip('"')
        return Report(os=os, packages=[], findings=[])
"##;

const PYTHON_SBOM: &str = r##""""An SBOM generator: turns one scanner report into a document ("names": one package a
line). An export returning result<T, string> returns T or raises Err(message)."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import Info


class SbomGenerator(exports.SbomGenerator):
    def describe(self) -> Info:
        return Info(name="@NAME@", version="0.1.0", hosts=[])

    def formats(self):
        return ["names"]

    def generate(self, format, subject, report, created) -> str:
        if format != "names":
            raise Err(f"cannot write {format} (names only)")
        lines = [f"# {subject.image} {subject.digest} {created}"]
        lines += [f"{p.name} {p.version}" for p in report.packages]
        return "\n".join(lines) + "\n"
"##;

const JS_SCANNER: &str = r##"// A scanner: reads the image's merged filesystem through `fs`, only the files it needs, and
// reports the operating system (add packages and findings from here).

export const scanner = {
  describe() {
    return { name: '@NAME@', version: '0.1.0', hosts: [] };
  },
  scan(image, platform, fs, options) {
    let os;
    let text = '';
    try {
      text = new TextDecoder().decode(fs.read('/etc/os-release', 0n, 64 * 1024));
    } catch {
      // no os-release: the OS stays unknown
    }
    for (const line of text.split('\n')) {
      if (line.startsWith('PRETTY_NAME=')) os = line.slice('PRETTY_NAME='.length).replace(/^"|"$/g, '');
    }
    return { os, packages: [], findings: [] };
  },
};
"##;

const JS_SBOM: &str = r##"// An SBOM generator: turns one scanner report into a document ("names": one package a line).
// An export returning result<T, string> returns T and throws a string for the error.

export const sbomGenerator = {
  describe() {
    return { name: '@NAME@', version: '0.1.0', hosts: [] };
  },
  formats() {
    return ['names'];
  },
  generate(format, subject, report, created) {
    if (format !== 'names') throw `cannot write ${format} (names only)`;
    const lines = [`# ${subject.image} ${subject.digest} ${created}`];
    for (const p of report.packages) lines.push(`${p.name} ${p.version}`);
    return lines.join('\n') + '\n';
  },
};
"##;
