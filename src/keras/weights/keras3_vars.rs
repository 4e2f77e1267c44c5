//! One layer's variables in the Keras 3 layout: its own at `<layer>/vars/0..n`, its sublayers'
//! at `<layer>/<attribute>[/<attribute>…]/vars/0..n` (Keras's `_save_state` walks a layer's
//! attributes). Known classes are read part by part in `layer.weights` order (the file keeps
//! groups sorted by name, not in that order); any other group holding variables follows, in
//! the order Keras visits attributes (public ones first, then `_private` ones, each sorted).

use std::sync::Arc;

use hdf5::Group;

use super::names::weight_name;
use super::reader::Reader;
use super::sublayers::parts;
use crate::error::{Error, Result};
use crate::keras::{LayerConfig, NamedTensor};

/// Deeper sublayer nesting than this is taken for a malformed file.
const MAX_DEPTH: usize = 16;

impl Reader<'_> {
    /// Every variable of `layer`, whose group is `group` (`layers/<group_name>`).
    pub(super) fn v3_layer(
        &mut self,
        group: &Group,
        group_name: &str,
        layer: &LayerConfig,
    ) -> Result<Vec<NamedTensor>> {
        let mut weights = Vec::new();
        let mut read: Vec<String> = Vec::new();
        for part in parts(&layer.class_name, &layer.config) {
            let found = [&part.group, &part.tf_group]
                .into_iter()
                .find(|g| g.is_empty() || group.link_exists(g));
            let Some(path) = found else { continue };
            let sub = if path.is_empty() {
                group.clone()
            } else {
                self.subgroup(group, path)?
            };
            let shown = weight_name(group_name, path);
            let vars = self.v3_vars(&sub, &shown, &layer.name)?;
            for (i, value) in vars.into_iter().enumerate() {
                let role = part
                    .roles
                    .get(i)
                    .map_or_else(|| i.to_string(), |r| r.to_string());
                weights.push(named(weight_name(&part.group, &role), value));
            }
            read.push(path.clone());
        }
        self.v3_rest(group, group_name, "", &read, layer, &mut weights, 0)?;
        Ok(weights)
    }

    /// Sublayer groups no part named, numbered by position: `<path>/<i>`.
    #[allow(clippy::too_many_arguments)]
    fn v3_rest(
        &mut self,
        group: &Group,
        group_name: &str,
        prefix: &str,
        read: &[String],
        layer: &LayerConfig,
        out: &mut Vec<NamedTensor>,
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::format(
                self.path,
                format!("layers/{group_name} nests sublayer groups more than {MAX_DEPTH} deep; the file is corrupt: re-save the model"),
            ));
        }
        let mut members = group
            .member_names()
            .map_err(|e| Error::format(self.path, e.to_string()))?;
        members.retain(|m| m != "vars" && group.group(m).is_ok());
        members.sort_by_key(|m| (m.starts_with('_'), m.clone()));
        for m in members {
            let path = weight_name(prefix, &m);
            let sub = self.subgroup(group, &m)?;
            if !read.contains(&path) {
                let shown = weight_name(group_name, &path);
                for (i, value) in self
                    .v3_vars(&sub, &shown, &layer.name)?
                    .into_iter()
                    .enumerate()
                {
                    out.push(named(weight_name(&path, &i.to_string()), value));
                }
            }
            self.v3_rest(&sub, group_name, &path, read, layer, out, depth + 1)?;
        }
        Ok(())
    }

    fn subgroup(&self, group: &Group, name: &str) -> Result<Group> {
        group
            .group(name)
            .map_err(|e| Error::format(self.path, e.to_string()))
    }

    /// `vars/0, vars/1, …` of one group, in numeric order.
    fn v3_vars(
        &mut self,
        group: &Group,
        shown: &str,
        layer: &str,
    ) -> Result<Vec<crate::tensor::Tensor>> {
        let Ok(vars) = group.group("vars") else {
            return Ok(Vec::new());
        };
        let names = vars
            .member_names()
            .map_err(|e| Error::format(self.path, e.to_string()))?;
        let mut indices: Vec<usize> = names.iter().filter_map(|n| n.parse().ok()).collect();
        indices.sort_unstable();
        if indices.iter().enumerate().any(|(i, &v)| i != v) {
            return Err(Error::format(
                self.path,
                format!("layers/{shown}/vars has members {names:?}, expected 0, 1, …; the file is corrupt: re-save the model"),
            ));
        }
        indices
            .iter()
            .map(|i| self.dataset(&vars, &i.to_string(), layer))
            .collect()
    }
}

fn named(name: String, value: crate::tensor::Tensor) -> NamedTensor {
    NamedTensor {
        name,
        value: Arc::new(value),
    }
}
