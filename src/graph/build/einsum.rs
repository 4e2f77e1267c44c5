//! EinsumDense, built as a Dense (`ops::dense::einsum`): around it a Reshape flattening the
//! summed input axes (`layer/flatten`) and one giving the kernel's output axes back, where
//! there are several. The last node is named after the layer.

use super::layer::advised;
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
        let plan = einsum::plan(&layer.config, &in_shape).map_err(|e| bad(advised(e)))?;
        let activation = activation_field(&layer.config, self.dialect).map_err(&bad)?;
        let mut expected = vec![WeightSpec::new("kernel", plan.kernel_shape.clone())];
        if let Some(bias) = &plan.bias_shape {
            expected.push(WeightSpec::new("bias", bias.clone()));
        }
        let weights = self.checked_weights(layer, expected, &bad)?;
        let mut dense_weights = vec![weights[0].laid_out(plan.kernel(&weights[0].value))];
        if plan.bias_shape.is_some() {
            dense_weights.push(weights[1].laid_out(plan.bias(&weights[1].value)));
        }
        let class = layer.display_class();
        let mut x = input;
        if let Some(flat) = &plan.flat_input {
            let reshape = Op::Reshape(Reshape {
                shape: flat.clone(),
            });
            let flatten = format!("{name}/flatten");
            x = self.push_checked(layer, &flatten, class, reshape, vec![x], vec![], &bad)?;
        }
        let dense = Op::Dense(Dense {
            units: plan.units,
            use_bias: plan.bias_shape.is_some(),
            activation,
        });
        let dense_name = match plan.output {
            Some(_) => format!("{name}/dense"),
            None => name.clone(),
        };
        x = self.push_checked(
            layer,
            &dense_name,
            class,
            dense,
            vec![x],
            dense_weights,
            &bad,
        )?;
        if let Some(out) = &plan.output {
            let reshape = Op::Reshape(Reshape { shape: out.clone() });
            x = self.push_checked(layer, &name, class, reshape, vec![x], vec![], &bad)?;
        }
        Ok(vec![x])
    }
}
