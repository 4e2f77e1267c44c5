//! Input nodes: the shapes an InputLayer declares, settled where they are open.

use super::*;

impl Builder<'_> {
    pub(super) fn input_node(&mut self, layer: &LayerConfig, prefix: &str) -> Result<NodeId> {
        let name = format!("{prefix}{}", layer.name);
        let shape = match self.input_shape(layer)? {
            Ok(shape) => shape,
            Err(open) => {
                self.findings.unknown.insert(name.clone());
                self.findings.open_inputs.push(open);
                Vec::new()
            }
        };
        self.push(Node {
            name,
            layer: layer.name.clone(),
            class: layer.class_name.clone(),
            op: Op::Input,
            inputs: Vec::new(),
            weights: Vec::new(),
            shape,
            op_layer: false,
        })
    }

    /// One sample's shape from `batch_shape` / `batch_input_shape` / `shape`, open dimensions
    /// filled from `--input-shape` (or what settled them: see [`super::open_inputs`]). In a
    /// survey, an input whose open dimensions nothing settled is `Ok(Err(_))`.
    pub(super) fn input_shape(
        &self,
        layer: &LayerConfig,
    ) -> Result<std::result::Result<Vec<usize>, OpenInput>> {
        let bad = |detail: String| {
            let detail = if detail.contains("; ") {
                detail
            } else {
                format!("{detail}; {MALFORMED}")
            };
            Error::layer(self.path, &layer.name, "InputLayer", detail)
        };
        let declared = DeclaredInput {
            name: layer.name.clone(),
            dims: declared_dims(layer).map_err(bad)?,
        };
        let shape = match self.options.input_shapes.get(&layer.name) {
            Some(given) => {
                if !declared.fits(given) {
                    return Err(Error::Usage(format!(
                        "--input-shape {}={}: {}",
                        layer.name,
                        join_dims(given),
                        declared.needs()
                    )));
                }
                given.clone()
            }
            None => match declared.dims.iter().copied().collect::<Option<Vec<_>>>() {
                Some(shape) => shape,
                None => {
                    let advice = format!(
                        "{}; pass --input-shape {}",
                        declared.leaves_open(),
                        declared.template()
                    );
                    if !self.survey {
                        return Err(bad(advice));
                    }
                    return Ok(Err(OpenInput {
                        name: layer.name.clone(),
                        dims: declared.dims,
                        advice,
                    }));
                }
            },
        };
        if shape.contains(&0) {
            return Err(bad(format!(
                "input shape {} has a zero-sized dimension; {MALFORMED}",
                describe_sample_shape(&shape)
            )));
        }
        if checked_len(&shape).is_none_or(|n| n > MAX_ELEMENTS) {
            return Err(bad(format!(
                "input shape {} would need {} per sample; refusing to allocate it: {MALFORMED}",
                describe_sample_shape(&shape),
                human_bytes(float32_bytes(&shape))
            )));
        }
        Ok(Ok(shape))
    }
}

/// The per-sample dimensions an InputLayer declares (`batch_shape` / `batch_input_shape`
/// without the batch, or `shape`), None where it leaves one open.
pub(crate) fn declared_dims(
    layer: &LayerConfig,
) -> std::result::Result<Vec<Option<usize>>, String> {
    let (dims, skip) = if let Some(s) = layer
        .config
        .get("batch_shape")
        .or(layer.config.get("batch_input_shape"))
    {
        (s, 1)
    } else if let Some(s) = layer.config.get("shape") {
        (s, 0)
    } else {
        return Err("config has no batch_shape, batch_input_shape or shape".into());
    };
    let dims = dims
        .as_array()
        .ok_or_else(|| format!("input shape {dims} is not a list"))?;
    dims.iter()
        .skip(skip)
        .map(|d| match d {
            Value::Null => Ok(None),
            v => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| format!("input dimension {v} is not a size")),
        })
        .collect()
}
