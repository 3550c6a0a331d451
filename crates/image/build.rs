//! Compiles the ISA-L inflate shim when ISA-L's header is installed (Debian's libisal-dev;
//! tests/install-deps installs it): `cfg(hangar_isal)`. Without it, gzip layers are inflated
//! by zlib-rs alone; with it, `libisal.so.2` is still only opened at run time.

use std::path::PathBuf;

fn main() {
    isal();
}

/// The header's location; `HANGAR_ISAL_INCLUDE` points elsewhere (e.g. a source build).
fn isal() {
    println!("cargo::rustc-check-cfg=cfg(hangar_isal)");
    println!("cargo:rerun-if-env-changed=HANGAR_ISAL_INCLUDE");
    println!("cargo:rerun-if-changed=src/isal_shim.c");
    let include = std::env::var_os("HANGAR_ISAL_INCLUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    let header = include.join("isa-l/igzip_lib.h");
    println!("cargo:rerun-if-changed={}", header.display());
    let linux_x86 = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64");
    // A static (musl) binary cannot open libisal.so.2 at run time, and Debian ships no
    // libisal.a to link instead: it inflates with zlib-rs, and `hangar version` says so.
    let static_musl = std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("musl");
    if !linux_x86 || static_musl || !header.is_file() {
        return;
    }
    cc::Build::new()
        .file("src/isal_shim.c")
        .include(&include)
        .warnings(true)
        .compile("hangar_isal_shim");
    println!("cargo:rustc-cfg=hangar_isal");
}
