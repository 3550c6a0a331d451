//! Implements `hangar:plugin@0.2.0`; the host (0.1.0) must refuse it with a clear message.

wit_bindgen::generate!({ path: "wit", world: "registry-adapter-plugin" });

use exports::hangar::plugin::registry_adapter::Guest;
use hangar::plugin::types::Info;

struct Future;

impl Guest for Future {
    fn describe() -> Info {
        Info {
            name: "future".into(),
            version: "2.0.0".into(),
            hosts: Vec::new(),
        }
    }

    fn detect(_registry: String) -> Result<bool, String> {
        Ok(true)
    }
}

export!(Future);
