//! Embeds the first-party plugins (built by `plugins/build` into plugins/target) so the
//! binary carries them. A plugin that was not built is left out, and `hangar` says so when
//! it is needed; the test run builds them first and fails if it cannot.
//!
//! Also compiles the ISA-L inflate shim when ISA-L's header is installed (Debian's
//! libisal-dev; tests/install-deps installs it): `cfg(hangar_isal)`. Without it, gzip layers
//! are inflated by zlib-rs alone.

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
    let built = manifest.join("../plugins/target/wasm32-wasip2/release");
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
    isal();
}

/// The header's location; `HANGAR_ISAL_INCLUDE` points elsewhere (e.g. a source build).
fn isal() {
    println!("cargo::rustc-check-cfg=cfg(hangar_isal)");
    println!("cargo:rerun-if-env-changed=HANGAR_ISAL_INCLUDE");
    println!("cargo:rerun-if-changed=src/image/isal_shim.c");
    let include = std::env::var_os("HANGAR_ISAL_INCLUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    let header = include.join("isa-l/igzip_lib.h");
    println!("cargo:rerun-if-changed={}", header.display());
    let linux_x86 = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64");
    if !linux_x86 || !header.is_file() {
        return;
    }
    cc::Build::new()
        .file("src/image/isal_shim.c")
        .include(&include)
        .warnings(true)
        .compile("hangar_isal_shim");
    println!("cargo:rustc-cfg=hangar_isal");
}
