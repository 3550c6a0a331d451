//! The plugins `plugins/build` made (first-party and test plugins), for tests that install or
//! pass them. tests/run builds them first; a missing one fails the test with that advice.

use std::path::PathBuf;

/// A file under plugins/target (`wasm32-wasip2/release/x.wasm`, `native/libx.so`).
pub fn built(relative: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/target")
        .join(relative);
    assert!(
        path.is_file(),
        "{}: missing; build the plugins first with plugins/build (tests/run does)",
        path.display()
    );
    path
}

/// A plugin's WebAssembly component.
pub fn wasm(name: &str) -> PathBuf {
    built(&format!("wasm32-wasip2/release/{name}.wasm"))
}
