//! What a verdict rests on besides the two model files: weights loaded onto them, custom
//! layers replaced by built-ins the user named, and how the inputs were made. Every report
//! states them, so that "EQUIVALENT" is never read without its premises.

use serde::Serialize;

use super::Side;
use crate::graph::MappingUse;

#[derive(Clone, Debug, Serialize)]
pub struct Assumptions {
    pub original: SideAssumptions,
    pub converted: SideAssumptions,
    pub inputs: InputAssumptions,
}

#[derive(Clone, Debug, Serialize)]
pub struct SideAssumptions {
    /// The weights file loaded onto the model instead of its own weights.
    pub weights_file: Option<String>,
    /// The custom mappings applied, each with the layers it replaced.
    pub custom_mappings: Vec<MappingUse>,
}

#[derive(Clone, Debug, Serialize)]
pub struct InputAssumptions {
    /// Where the inputs came from: a file, or a seeded distribution.
    pub source: String,
    /// Conversions applied to the inputs before the models saw them (float64 → float32, …).
    pub casts: Vec<String>,
}

impl Assumptions {
    pub fn new(original: &Side, converted: &Side, source: String, casts: Vec<String>) -> Self {
        Assumptions {
            original: SideAssumptions::of(original),
            converted: SideAssumptions::of(converted),
            inputs: InputAssumptions { source, casts },
        }
    }

    /// The assumptions for people, as (key, text) lines: those about weights and mappings
    /// only when there are any.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let sides = [("original", &self.original), ("converted", &self.converted)];
        let per_side = |describe: &dyn Fn(&SideAssumptions) -> Option<String>| {
            let parts: Vec<String> = sides
                .iter()
                .filter_map(|(name, s)| describe(s).map(|d| format!("{name}: {d}")))
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        };
        let mut lines = Vec::new();
        if let Some(w) = per_side(&|s| s.weights_file.clone()) {
            lines.push(("weights", w));
        }
        if let Some(m) = per_side(&|s| {
            let applied: Vec<String> = s
                .custom_mappings
                .iter()
                .filter(|m| !m.layers.is_empty())
                .map(|m| format!("{} on {}", m.mapping, m.layers.join(", ")))
                .collect();
            (!applied.is_empty()).then(|| applied.join(", "))
        }) {
            lines.push(("mappings", m));
        }
        let mut inputs = self.inputs.source.clone();
        if !self.inputs.casts.is_empty() {
            inputs = format!("{inputs}; {}", self.inputs.casts.join(", "));
        }
        lines.push(("inputs", inputs));
        lines
    }

    /// A warning when custom layers were replaced by built-ins: the verdict covers them only
    /// as far as the user's mappings are what those layers compute.
    pub fn mapping_warning(&self) -> Option<String> {
        let mapped = |s: &SideAssumptions| s.custom_mappings.iter().any(|m| !m.layers.is_empty());
        (mapped(&self.original) || mapped(&self.converted)).then(|| {
            "custom layers were replaced by the built-ins you mapped them to (see mappings): the verdict holds only if each mapping computes what its layer does".to_string()
        })
    }
}

impl SideAssumptions {
    fn of(side: &Side) -> Self {
        SideAssumptions {
            weights_file: side
                .model
                .weights_file
                .as_ref()
                .map(|p| p.display().to_string()),
            custom_mappings: side.graph.mappings.clone(),
        }
    }
}
