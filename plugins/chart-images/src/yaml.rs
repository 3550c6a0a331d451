//! YAML documents as Helm reads them: a key written twice in one mapping keeps its last value
//! (yaml-rust2's own loader refuses the whole file, and real charts do repeat keys).
//! Scalars keep the text the author wrote for numbers (`1.10` stays `1.10`).

/// The node type documents load into (re-exported so users need no YAML crate of their own).
pub use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::yaml::Hash;

/// Every document of `text` (a leading byte-order mark is allowed).
pub fn load(text: &str) -> Result<Vec<Yaml>, String> {
    let text = text.trim_start_matches('\u{feff}');
    let mut loader = Loader::default();
    Parser::new(text.chars())
        .load(&mut loader, true)
        .map_err(|e| e.to_string())?;
    Ok(loader.docs)
}

/// The first document of `text`.
pub fn first(text: &str) -> Result<Yaml, String> {
    load(text)?
        .into_iter()
        .next()
        .ok_or_else(|| "empty".to_string())
}

#[derive(Default)]
struct Loader {
    docs: Vec<Yaml>,
    /// Open collections with their anchor ids; mappings also hold the pending key.
    stack: Vec<(Yaml, usize, Option<Yaml>)>,
    anchors: std::collections::HashMap<usize, Yaml>,
}

impl MarkedEventReceiver for Loader {
    fn on_event(&mut self, event: Event, _mark: Marker) {
        match event {
            Event::DocumentEnd => {
                let doc = self
                    .stack
                    .pop()
                    .map(|(node, ..)| node)
                    .unwrap_or(Yaml::Null);
                self.docs.push(doc);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push((Yaml::Array(Vec::new()), anchor, None))
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push((Yaml::Hash(Hash::new()), anchor, None))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, anchor, _)) = self.stack.pop() {
                    self.insert(node, anchor);
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let node = if style != TScalarStyle::Plain || tag.is_some_and(|t| t.suffix == "str")
                {
                    Yaml::String(text)
                } else {
                    Yaml::from_str(&text)
                };
                self.insert(node, anchor);
            }
            Event::Alias(anchor) => {
                let node = self.anchors.get(&anchor).cloned().unwrap_or(Yaml::Null);
                self.insert(node, 0);
            }
            _ => {}
        }
    }
}

impl Loader {
    fn insert(&mut self, node: Yaml, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.stack.push((node, 0, None)),
            Some((Yaml::Array(items), ..)) => items.push(node),
            Some((Yaml::Hash(map), _, pending)) => match pending.take() {
                None => *pending = Some(node),
                // A repeated key: the last value wins, as in Helm.
                Some(key) => {
                    map.insert(key, node);
                }
            },
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_keep_the_last_value_and_numbers_their_text() {
        let doc =
            first("\u{feff}a: 1\nb: {x: 1.10}\na: 2\nc: &k [v]\nd: *k\ne: !!str 1.5\n").unwrap();
        assert_eq!(doc["a"], Yaml::Integer(2));
        assert_eq!(doc["b"]["x"], Yaml::Real("1.10".into()));
        assert_eq!(doc["d"][0].as_str(), Some("v"));
        assert_eq!(doc["e"].as_str(), Some("1.5"));
        assert!(first("a: [b").is_err());
    }
}
