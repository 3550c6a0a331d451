//! Implements `hangar:plugin@0.1.0` as first released (`wit/`, frozen): the host speaks a later
//! 0.1.x and must load it and run every call, as the component model's semver rules promise.

wit_bindgen::generate!({ path: "wit", world: "registry-adapter-plugin" });

use exports::hangar::plugin::registry_adapter::Guest;
use hangar::plugin::log::{Level, log};
use hangar::plugin::types::Info;

struct Legacy;

impl Guest for Legacy {
    fn describe() -> Info {
        Info {
            name: "legacy".into(),
            version: "0.1.0".into(),
            hosts: Vec::new(),
        }
    }

    fn detect(registry: String) -> Result<bool, String> {
        log(Level::Info, &format!("asked about {registry}"));
        Ok(registry == "legacy.test")
    }

    fn prepare_push(
        registry: String,
        repositories: Vec<String>,
        _options: Vec<(String, String)>,
    ) -> Result<Vec<String>, String> {
        Ok(vec![format!("{registry}: {} ready", repositories.join(", "))])
    }

    fn classify_error(status: u16, _body: String) -> Option<String> {
        (status == 418).then(|| "a teapot answered".to_string())
    }
}

export!(Legacy);
