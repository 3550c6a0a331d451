//! Docker schema1 (signed and unsigned) → schema2 conversion, as Hangar (containers/image) does.
//!
//! Schema1 has no config blob and no layer sizes; schema2 needs both, plus the *uncompressed*
//! digest of every layer (`rootfs.diff_ids`). The copy engine learns sizes and diff IDs while
//! it streams the layers, then calls [`Schema1::to_schema2`]. The result has a new digest,
//! which is the documented behaviour.

use super::digest::Digest;
use super::media::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_V2S2};
use super::platform::Platform;
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error)]
pub enum Schema1Error {
    #[error("malformed schema1 manifest: {0}")]
    Malformed(String),
    #[error("schema1 manifest has no layers")]
    NoLayers,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    architecture: String,
    fs_layers: Vec<FsLayer>,
    history: Vec<History>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FsLayer {
    blob_sum: Digest,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct History {
    v1_compatibility: String,
}

#[derive(Deserialize, Default)]
struct V1Compat {
    #[serde(default)]
    throwaway: bool,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    container_config: Option<ContainerConfig>,
}

#[derive(Deserialize, Default)]
struct ContainerConfig {
    #[serde(rename = "Cmd", default)]
    cmd: Option<Vec<String>>,
}

/// A layer of the converted image, learnt while copying it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertedLayer {
    pub size: u64,
    pub diff_id: Digest,
}

pub struct Schema1 {
    top_config: Map<String, Value>,
    /// Oldest first, with the entry of each history item.
    history: Vec<V1Compat>,
    blob_sums: Vec<Digest>,
    architecture: String,
}

impl Schema1 {
    pub fn parse(body: &[u8]) -> Result<Schema1, Schema1Error> {
        let raw: Raw =
            serde_json::from_slice(body).map_err(|e| Schema1Error::Malformed(e.to_string()))?;
        if raw.fs_layers.is_empty() || raw.fs_layers.len() != raw.history.len() {
            return Err(if raw.fs_layers.is_empty() {
                Schema1Error::NoLayers
            } else {
                Schema1Error::Malformed("fsLayers and history differ in length".into())
            });
        }
        let top_config: Map<String, Value> = serde_json::from_str(&raw.history[0].v1_compatibility)
            .map_err(|e| Schema1Error::Malformed(format!("v1Compatibility: {e}")))?;
        // Schema1 lists the newest layer first.
        let mut history = Vec::new();
        let mut blob_sums = Vec::new();
        for (h, l) in raw.history.iter().zip(&raw.fs_layers).rev() {
            let compat: V1Compat = serde_json::from_str(&h.v1_compatibility)
                .map_err(|e| Schema1Error::Malformed(format!("v1Compatibility: {e}")))?;
            if !compat.throwaway {
                blob_sums.push(l.blob_sum.clone());
            }
            history.push(compat);
        }
        Ok(Schema1 {
            top_config,
            history,
            blob_sums,
            architecture: raw.architecture,
        })
    }

    /// The layers that become schema2 layers (throwaway layers dropped), oldest first.
    pub fn layers(&self) -> &[Digest] {
        &self.blob_sums
    }

    pub fn platform(&self) -> Platform {
        let os = self
            .history
            .last()
            .and_then(|h| h.os.clone())
            .unwrap_or_else(|| "linux".into());
        Platform::new(&os, &self.architecture, None)
    }

    /// Builds the schema2 config and manifest bytes from what the copy learnt of each layer.
    pub fn to_schema2(
        &self,
        layers: &[ConvertedLayer],
    ) -> Result<(Vec<u8>, Vec<u8>), Schema1Error> {
        if layers.len() != self.blob_sums.len() {
            return Err(Schema1Error::Malformed(format!(
                "{} layers converted, {} expected",
                layers.len(),
                self.blob_sums.len()
            )));
        }
        let mut config = self.top_config.clone();
        for key in ["id", "parent", "parent_id", "layer_id", "throwaway", "Size"] {
            config.remove(key);
        }
        let history: Vec<Value> = self
            .history
            .iter()
            .map(|h| {
                let mut item = Map::new();
                if let Some(c) = &h.created {
                    item.insert("created".into(), json!(c));
                }
                if let Some(a) = h.author.as_ref().filter(|a| !a.is_empty()) {
                    item.insert("author".into(), json!(a));
                }
                let created_by = h
                    .container_config
                    .as_ref()
                    .and_then(|c| c.cmd.as_ref())
                    .map(|c| c.join(" "));
                if let Some(cb) = created_by.filter(|c| !c.is_empty()) {
                    item.insert("created_by".into(), json!(cb));
                }
                if let Some(c) = h.comment.as_ref().filter(|c| !c.is_empty()) {
                    item.insert("comment".into(), json!(c));
                }
                if h.throwaway {
                    item.insert("empty_layer".into(), json!(true));
                }
                Value::Object(item)
            })
            .collect();
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
        config.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": diff_ids}),
        );
        config.insert("history".into(), Value::Array(history));
        // Sorted keys, like Go's encoding of a map, so the result is stable.
        let sorted: std::collections::BTreeMap<String, Value> = config.into_iter().collect();
        let config_bytes =
            serde_json::to_vec(&sorted).map_err(|e| Schema1Error::Malformed(e.to_string()))?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_V2S2,
            "config": {
                "mediaType": DOCKER_CONFIG,
                "size": config_bytes.len(),
                "digest": Digest::sha256_of(&config_bytes),
            },
            "layers": self.blob_sums.iter().zip(layers).map(|(d, l)| json!({
                "mediaType": DOCKER_LAYER_GZIP,
                "size": l.size,
                "digest": d,
            })).collect::<Vec<_>>(),
        });
        let manifest_bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Schema1Error::Malformed(e.to_string()))?;
        Ok((config_bytes, manifest_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn converts_with_throwaway_layers_dropped() {
        let top = r##"{"id":"top","parent":"mid","architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"created":"2023-11-14T22:13:20Z","container_config":{"Cmd":["/bin/sh","-c","#(nop) CMD"]},"throwaway":true}"##;
        let mid = r#"{"id":"mid","parent":"base","created":"2023-11-14T22:13:19Z","container_config":{"Cmd":["/bin/sh","-c","echo hi > /x"]}}"#;
        let base = r#"{"id":"base","created":"2023-11-14T22:13:18Z","container_config":{"Cmd":["ADD file"]}}"#;
        let body = serde_json::json!({
            "schemaVersion": 1, "name": "test/x", "tag": "s1", "architecture": "amd64",
            "fsLayers": [{"blobSum": d('a')}, {"blobSum": d('b')}, {"blobSum": d('c')}],
            "history": [{"v1Compatibility": top}, {"v1Compatibility": mid}, {"v1Compatibility": base}],
        });
        let s1 = Schema1::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            s1.layers().iter().map(|x| x.as_str()).collect::<Vec<_>>(),
            vec![d('c'), d('b')]
        );
        assert_eq!(s1.platform().to_string(), "linux/amd64");
        let converted = [
            ConvertedLayer {
                size: 100,
                diff_id: d('1').parse().unwrap(),
            },
            ConvertedLayer {
                size: 200,
                diff_id: d('2').parse().unwrap(),
            },
        ];
        let (config, manifest) = s1.to_schema2(&converted).unwrap();
        let config: Value = serde_json::from_slice(&config).unwrap();
        assert!(
            config.get("id").is_none()
                && config.get("parent").is_none()
                && config.get("throwaway").is_none()
        );
        assert_eq!(config["rootfs"]["diff_ids"], json!([d('1'), d('2')]));
        assert_eq!(config["history"].as_array().unwrap().len(), 3);
        assert_eq!(config["history"][2]["empty_layer"], json!(true));
        assert_eq!(
            config["history"][1]["created_by"],
            json!("/bin/sh -c echo hi > /x")
        );
        let manifest: Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(manifest["layers"][0]["digest"], json!(d('c')));
        assert_eq!(manifest["layers"][1]["size"], json!(200));
        assert!(s1.to_schema2(&converted[..1]).is_err());
    }

    #[test]
    fn rejects_malformed() {
        assert!(Schema1::parse(b"{}").is_err());
        assert!(matches!(
            Schema1::parse(br#"{"fsLayers":[],"history":[]}"#),
            Err(Schema1Error::NoLayers)
        ));
    }
}
