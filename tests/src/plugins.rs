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

/// A first-party plugin written in another language (Python, JavaScript), which plugins/build
/// writes to plugins/target/components/ (they are installed beside hangar, not embedded).
pub fn component(name: &str) -> PathBuf {
    built(&format!("components/{name}.wasm"))
}

/// A compilation cache shared by the tests that load the large Python and JavaScript
/// components (each takes seconds to compile once; the file is rebuilt only when its sources
/// change, so the cache stays valid from run to run).
pub fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-plugin-cache")
}
