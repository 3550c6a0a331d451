//! Embeds the first-party plugins (built by `plugins/build` into plugins/target) so the
//! binary carries them. A plugin that was not built is left out, and `hangar` says so when
//! it is needed; the test run builds them first and fails if it cannot.

use std::path::PathBuf;

/// (plugin name, file name in plugins/target/wasm32-wasip2/release, world). The world is
/// known here so a command that needs one kind of plugin never compiles the others.
const FIRST_PARTY: &[(&str, &str, &str)] = &[
    ("harbor", "harbor", "registry-adapter"),
    ("osv-scanner", "osv_scanner", "scanner"),
    ("sbom", "sbom", "sbom-generator"),
    ("helm", "helm", "list-generator"),
    ("rancher", "rancher", "list-generator"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let built = manifest.join("../../plugins/target/wasm32-wasip2/release");
    let mut code = String::from(
        "/// First-party plugins built into this binary: (name, world, component bytes).\npub const EMBEDDED: &[(&str, &str, &[u8])] = &[\n",
    );
    for (name, file, world) in FIRST_PARTY {
        let wasm = built.join(format!("{file}.wasm"));
        println!("cargo:rerun-if-changed={}", wasm.display());
        if wasm.is_file() {
            code.push_str(&format!(
                "    ({name:?}, {world:?}, include_bytes!({:?})),\n",
                wasm.canonicalize().unwrap()
            ));
        }
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded_plugins.rs");
    std::fs::write(out, code).unwrap();
}
