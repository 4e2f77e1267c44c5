//! One model as a command reads and builds it: its files, its custom mappings and the open input
//! dimensions it is given. The same for a single-model command and each side of a comparison.

use std::path::PathBuf;

use crate::error::Result;
use crate::graph::build::BuildOptions;
use crate::graph::open_inputs::{settle, InputsFlag};
use crate::keras::custom::{CustomMap, Mapping};
use crate::keras::KerasModel;

#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub model: PathBuf,
    pub weights: Option<PathBuf>,
    /// Files of mappings: read with the model, like the model file, and by the same loader
    /// that reports on unreadable files.
    pub custom_files: Vec<PathBuf>,
    /// Mappings given directly, already checked; they come after the files' and so win.
    pub custom: Vec<Mapping>,
    /// Open input dimensions `NAME=D1,D2`: settled against the model's inputs when it is read,
    /// because what a mistake in them should say depends on those inputs.
    pub input_shapes: Vec<String>,
}

impl ModelConfig {
    /// The mapping files' mappings, then those given directly.
    pub fn custom_map(&self) -> Result<CustomMap> {
        let mut map = CustomMap::default();
        for path in &self.custom_files {
            map.add_file(path)?;
        }
        for mapping in &self.custom {
            map.push(mapping.clone());
        }
        Ok(map)
    }

    /// How to build `model`: the mappings, and the dimensions its inputs leave open, settled
    /// by the input shapes or by `inputs` (see [`settle`]).
    pub fn build_options(&self, model: &KerasModel, inputs: InputsFlag) -> Result<BuildOptions> {
        let custom = self.custom_map()?;
        let mut shapes = settle(&[model], &self.input_shapes, inputs)?;
        Ok(BuildOptions {
            custom,
            input_shapes: shapes.remove(0),
        })
    }
}
