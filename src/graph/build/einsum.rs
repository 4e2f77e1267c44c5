//! EinsumDense, built as a Dense (`ops::dense::einsum`): around it a Reshape flattening the
//! summed input axes (`layer/flatten`) and one giving the kernel's output axes back, where
//! there are several. The last node is named after the layer.

use super::*;
use crate::ops::dense::einsum;
use crate::ops::{activation::activation_field, Dense, Reshape};

impl Builder<'_> {
    pub(super) fn einsum_dense(
        &mut self,
        layer: &LayerConfig,
        name: String,
        input: NodeId,
    ) -> Result<Vec<NodeId>> {
        let bad =
            |detail: String| Error::layer(self.path, &layer.name, layer.display_class(), detail);
        let in_shape = self.nodes[input.0].shape.clone();
        let plan = einsum::plan(&layer.config, &in_shape).map_err(&bad)?;
        let activation = activation_field(&layer.config, self.dialect).map_err(&bad)?;
        let mut expected = vec![WeightSpec::new("kernel", plan.kernel_shape.clone())];
        if let Some(bias) = &plan.bias_shape {
            expected.push(WeightSpec::new("bias", bias.clone()));
        }
        let weights = self.checked_weights(layer, expected, &bad)?;
        let mut dense_weights = vec![Weight {
            name: "kernel".into(),
            value: Arc::new(plan.kernel(&weights[0].value)),
        }];
        if plan.bias_shape.is_some() {
            dense_weights.push(Weight {
                name: "bias".into(),
                value: Arc::new(plan.bias(&weights[1].value)),
            });
        }
        let node = |name: String, op: Op, input: NodeId, weights: Vec<Weight>, shape| Node {
            name,
            layer: layer.name.clone(),
            class: layer.display_class().to_string(),
            op,
            inputs: vec![input],
            weights,
            shape,
            op_layer: false,
        };
        let mut x = input;
        if let Some(flat) = &plan.flat_input {
            let reshape = Op::Reshape(Reshape {
                shape: flat.clone(),
            });
            x = self.push(node(
                format!("{name}/flatten"),
                reshape,
                x,
                vec![],
                flat.clone(),
            ))?;
        }
        let dense = Op::Dense(Dense {
            units: plan.units,
            use_bias: plan.bias_shape.is_some(),
            activation,
        });
        let dense_shape = dense
            .output_shape(&[&self.nodes[x.0].shape])
            .map_err(|e| bad(format!("{e}; {MALFORMED}")))?;
        let dense_name = match plan.output {
            Some(_) => format!("{name}/dense"),
            None => name.clone(),
        };
        x = self.push(node(dense_name, dense, x, dense_weights, dense_shape))?;
        if let Some(out) = &plan.output {
            let reshape = Op::Reshape(Reshape { shape: out.clone() });
            x = self.push(node(name.clone(), reshape, x, vec![], out.clone()))?;
        }
        Ok(vec![x])
    }
}
