//! Which custom mappings a graph was built with, and the rule that every one applies to a
//! layer: a mapping that matches nothing (a typo) would otherwise leave the user believing a
//! layer was mapped.

use std::path::Path;

use serde::Serialize;

use super::Graph;
use crate::error::{Error, Result};
use crate::keras::custom::Mapping;

/// A custom mapping and the nodes it turned into its built-in (none: it matched nothing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MappingUse {
    #[serde(flatten)]
    pub mapping: Mapping,
    pub layers: Vec<String>,
}

/// Every mapping given for one model applies to a layer of it.
pub fn check_one(path: &Path, graph: &Graph) -> Result<()> {
    match graph.mappings.iter().find(|m| m.layers.is_empty()) {
        Some(unused) => Err(unmatched_mapping(&unused.mapping, &[(path, graph)])),
        None => Ok(()),
    }
}

/// Every mapping of a comparison applies to a layer: one given for both models to a layer of
/// either, one given for one model to a layer of that model.
pub fn check_pair(sides: [(&Path, &Graph); 2]) -> Result<()> {
    for (k, &(path, graph)) in sides.iter().enumerate() {
        let other = sides[1 - k].1;
        for unused in graph.mappings.iter().filter(|m| m.layers.is_empty()) {
            let used_by_other = unused.mapping.both_models
                && other
                    .mappings
                    .iter()
                    .any(|o| o.mapping == unused.mapping && !o.layers.is_empty());
            if !used_by_other {
                let scope: &[(&Path, &Graph)] = if unused.mapping.both_models {
                    &sides
                } else {
                    &[(path, graph)]
                };
                return Err(unmatched_mapping(&unused.mapping, scope));
            }
        }
    }
    Ok(())
}

/// A mapping that matches no layer of `models`, naming the classes they hold.
fn unmatched_mapping(mapping: &Mapping, models: &[(&Path, &Graph)]) -> Error {
    let mut classes: Vec<&str> = Vec::new();
    for (_, graph) in models {
        for node in &graph.nodes {
            if !classes.contains(&node.class.as_str()) {
                classes.push(&node.class);
            }
        }
    }
    let paths: Vec<String> = models
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    let from = mapping
        .file
        .as_ref()
        .map_or(String::new(), |f| format!(" (from {f})"));
    Error::Usage(format!(
        "custom mapping '{mapping}'{from} matches no layer of {}: a mapping names a layer, its registered name (package>Class) or its class; the layer classes there are {}",
        paths.join(" or "),
        classes.join(", ")
    ))
}
