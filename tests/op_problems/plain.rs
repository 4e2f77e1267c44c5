//! The problems' shared parts: float64 tensors, seeded values, one-node graphs, tolerances
//! and shape strategies.

use std::collections::HashMap;
use std::sync::Arc;

use keqv::exec::cpu::eval_node;
use keqv::graph::{Node, NodeId, Op, Weight};
use keqv::tensor::Tensor;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Generated cases per property.
pub fn config() -> Config {
    Config {
        cases: 48,
        ..Config::default()
    }
}

/// A tensor as float64 values with its full shape (batch first), for the references.
#[derive(Clone, Debug)]
pub struct Plain {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Plain {
    pub fn tensor(&self) -> Tensor {
        ArrayD::from_shape_vec(
            IxDyn(&self.shape),
            self.data.iter().map(|&v| v as f32).collect(),
        )
        .unwrap()
    }

    pub fn index(&self, flat: usize) -> Vec<usize> {
        let mut rest = flat;
        let mut index = vec![0; self.shape.len()];
        for (axis, &d) in self.shape.iter().enumerate().rev() {
            index[axis] = rest % d;
            rest /= d;
        }
        index
    }

    pub fn flat(&self, index: &[usize]) -> usize {
        index
            .iter()
            .zip(&self.shape)
            .fold(0, |acc, (&i, &d)| acc * d + i)
    }

    /// The flat positions of each group of elements that agree outside `axes`.
    pub fn groups(&self, axes: &[usize]) -> Vec<Vec<usize>> {
        let mut groups: HashMap<Vec<usize>, Vec<usize>> = HashMap::new();
        let mut order = Vec::new();
        for i in 0..self.data.len() {
            let mut key = self.index(i);
            for &a in axes {
                key[a] = 0;
            }
            let entry = groups.entry(key.clone()).or_default();
            if entry.is_empty() {
                order.push(key);
            }
            entry.push(i);
        }
        order
            .into_iter()
            .map(|k| groups.remove(&k).unwrap())
            .collect()
    }

    /// `p`, a parameter over `axes`, at the element `flat` of this tensor.
    pub fn param_at(&self, p: &Plain, axes: &[usize], flat: usize) -> f64 {
        let index = self.index(flat);
        let at: Vec<usize> = axes.iter().map(|&a| index[a]).collect();
        p.data[p.flat(&at)]
    }
}

/// Values in [-span, span) from a seed (xorshift64*), reproducible from the shrunk case.
pub fn values(seed: u64, n: usize, span: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let u = (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            (u * 2.0 - 1.0) * span
        })
        .collect()
}

pub fn plain(shape: &[usize], seed: u64, span: f64) -> Plain {
    Plain {
        shape: shape.to_vec(),
        data: values(seed, shape.iter().product(), span),
    }
}

/// One node of `op` on inputs of these sample shapes, with these weights.
pub fn node(op: Op, inputs: &[&Plain], weights: &[&Plain]) -> Node {
    let samples: Vec<&[usize]> = inputs.iter().map(|p| &p.shape[1..]).collect();
    let shape = op
        .output_shape(&samples)
        .unwrap_or_else(|e| panic!("{op:?}: {e}"));
    Node {
        name: "n".into(),
        layer: "n".into(),
        class: "Problem".into(),
        op,
        inputs: (0..inputs.len()).map(NodeId).collect(),
        weights: weights
            .iter()
            .enumerate()
            .map(|(i, w)| Weight::new(format!("w{i}"), Arc::new(w.tensor())))
            .collect(),
        shape,
        op_layer: false,
    }
}

pub fn run(node: &Node, inputs: &[&Plain]) -> Tensor {
    let tensors: Vec<Tensor> = inputs.iter().map(|p| p.tensor()).collect();
    let refs: Vec<&Tensor> = tensors.iter().collect();
    eval_node(node, &refs)
}

/// Every element within `atol + rtol·|want|` (scaled by `scale[i]` where given).
pub fn assert_close(got: &Tensor, want: &[f64], scale: &dyn Fn(usize) -> f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: element count");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let bound = scale(i) * (2e-6 + 2e-5 * w.abs());
        assert!(
            (f64::from(g) - w).abs() <= bound,
            "{what}: element {i}: got {g}, want {w} (bound {bound:.2e})"
        );
    }
}

pub fn unit(_: usize) -> f64 {
    1.0
}

/// A batch of 1..=3 samples of rank 1..=3, each dimension 1..=6.
pub fn shapes() -> impl Strategy<Value = Vec<usize>> {
    (1usize..=3, prop::collection::vec(1usize..=6, 1..=3))
        .prop_map(|(b, s)| std::iter::once(b).chain(s).collect())
}

/// A subset (non-empty) of the sample axes of a shape, as absolute axes.
pub fn axes_of(shape: &[usize], mask: u8) -> Vec<usize> {
    let axes: Vec<usize> = (1..shape.len()).filter(|a| mask & (1 << a) != 0).collect();
    if axes.is_empty() {
        vec![shape.len() - 1]
    } else {
        axes
    }
}
