//! Every operation a graph node can perform, one module per op family.
//!
//! A family keeps in one place how its Keras classes' configs read (both dialects), its output
//! shape rule, the weights it expects, its cost and its CPU evaluation; `registry` maps Keras
//! class names to the family's parser. `Op` dispatches to the families with exhaustive matches,
//! so a new op does not compile until every executor handles it or says it cannot.
//!
//! Axes are absolute indices into the full tensor shape, batch axis included (axis 0 is the
//! batch), already resolved from Keras's negative or 1-based forms when the config is read.

pub mod activation;
pub mod attention;
pub mod categorical;
pub mod conv;
pub mod dense;
pub mod dot;
pub(crate) mod fields;
pub mod gemm;
pub mod layout;
pub mod mean;
pub mod merge;
pub mod nan;
pub mod norm;
pub mod op_layers;
pub mod pad;
pub mod per_step;
pub mod pool;
mod real;
pub mod recurrent;
mod reduce;
pub mod registry;
pub mod resample;
pub mod scale;
pub mod sequence;
pub mod window;

use ndarray::ArrayD;
use serde::Serialize;

pub use activation::{Activation, PRelu, Softmax};
pub use attention::Attention;
pub use categorical::Categorical;
pub use conv::{Conv, ConvKind};
pub use dense::Dense;
pub use dot::Dot;
pub use layout::{Permute, Repeat, Reshape};
pub use mean::Mean;
pub use merge::{Concatenate, MergeKind};
pub use norm::{BatchNorm, GroupNorm, L2Normalize, LayerNorm, RmsNorm};
pub use pad::Pad;
pub use per_step::PerStep;
pub use pool::{Pool, PoolKind};
pub use real::Real;
pub use recurrent::{Cell, Emit, Recurrent};
pub use resample::{Interpolation, Resample, ResampleAxis, Target};
pub use scale::{Arith, Scale, ScaleKind};
pub use sequence::{Embedding, MakeMask, MaskedMean, Masking};

/// One node's computation. Weights live on the node, in the order its family's `weights` lists.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A model input; no computation.
    Input,
    Dense(Dense),
    Activation(Activation),
    Softmax(Softmax),
    PRelu(PRelu),
    /// Passes its input through (Dropout, the noise and augmentation layers at inference,
    /// mapped no-ops).
    Identity,
    Reshape(Reshape),
    Permute(Permute),
    Repeat(Repeat),
    /// Elementwise combination of the inputs, with Keras's broadcasting.
    Merge(MergeKind),
    Concatenate(Concatenate),
    BatchNorm(BatchNorm),
    LayerNorm(LayerNorm),
    L2Normalize(L2Normalize),
    /// The mean over sample axes (an op layer's).
    Mean(Mean),
    RmsNorm(RmsNorm),
    GroupNorm(GroupNorm),
    /// A per-feature affine map (Rescaling, Normalization, LayerScale).
    Scale(Scale),
    Pad(Pad),
    Resample(Resample),
    Pool(Pool),
    Conv(Conv),
    /// SimpleRNN, LSTM and GRU over a `[steps, features]` sample (and its mask, when masked).
    Recurrent(Recurrent),
    Embedding(Embedding),
    /// A mask of the real steps, from token ids or from the Masking layer's input.
    MakeMask(MakeMask),
    Masking(Masking),
    /// GlobalAveragePooling1D over the real steps: its inputs are the values and their mask.
    MaskedMean(MaskedMean),
    /// Attention over a query, key and value (and their masks): the Attention layers,
    /// MultiHeadAttention's core.
    Attention(Attention),
    /// A layer applied to every step of its input (TimeDistributed).
    PerStep(Box<PerStep>),
    /// The dot product of two inputs along one axis of each, per sample (the Dot layer).
    Dot(Dot),
    /// CategoryEncoding, Discretization and IntegerLookup: ids and values to categories.
    Categorical(Categorical),
}

/// A weight an op expects: Keras's variable name and its shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightSpec {
    pub name: &'static str,
    pub shape: Vec<usize>,
}

impl WeightSpec {
    pub fn new(name: &'static str, shape: Vec<usize>) -> Self {
        WeightSpec { name, shape }
    }
}

impl Op {
    /// Short op name for tables and reports.
    pub fn name(&self) -> String {
        match self {
            Op::Input => "input".into(),
            Op::Dense(d) => d.name(),
            Op::Activation(a) => a.name(),
            Op::Softmax(s) => s.name().into(),
            Op::PRelu(_) => "prelu".into(),
            Op::Identity => "identity".into(),
            Op::Reshape(_) => "reshape".into(),
            Op::Permute(p) if p.flatten => "flatten".into(),
            Op::Permute(_) => "permute".into(),
            Op::Repeat(_) => "repeat".into(),
            Op::Merge(kind) => kind.name(),
            Op::Concatenate(_) => "concatenate".into(),
            Op::BatchNorm(_) => "batch_norm".into(),
            Op::LayerNorm(n) => n.name().into(),
            Op::L2Normalize(_) => "l2_normalize".into(),
            Op::Mean(_) => "mean".into(),
            Op::RmsNorm(_) => "rms_normalize".into(),
            Op::GroupNorm(_) => "group_norm".into(),
            Op::Scale(s) => s.name().into(),
            Op::Resample(r) => r.name().into(),
            Op::Pad(p) => p.name().into(),
            Op::Pool(p) => p.name().into(),
            Op::Conv(c) => c.name(),
            Op::Recurrent(r) => r.name(),
            Op::Embedding(_) => "embedding".into(),
            Op::MakeMask(m) => m.name().into(),
            Op::Masking(_) => "masking".into(),
            Op::MaskedMean(_) => "masked_mean".into(),
            Op::Attention(a) => a.name(),
            Op::PerStep(p) => p.name(),
            Op::Dot(d) => d.name(),
            Op::Categorical(c) => c.name(),
        }
    }

    /// Whether the op takes several tensors (merges) rather than exactly one.
    pub fn takes_many(&self) -> bool {
        match self {
            Op::Merge(_)
            | Op::Concatenate(_)
            | Op::MaskedMean(_)
            | Op::Attention(_)
            | Op::Dot(_) => true,
            Op::Recurrent(r) => r.extra_inputs() > 0,
            Op::PerStep(p) => p.op.takes_many(),
            Op::Input
            | Op::Dense(_)
            | Op::Activation(_)
            | Op::Softmax(_)
            | Op::PRelu(_)
            | Op::Identity
            | Op::Reshape(_)
            | Op::Permute(_)
            | Op::Repeat(_)
            | Op::BatchNorm(_)
            | Op::LayerNorm(_)
            | Op::L2Normalize(_)
            | Op::Mean(_)
            | Op::RmsNorm(_)
            | Op::GroupNorm(_)
            | Op::Scale(_)
            | Op::Pad(_)
            | Op::Resample(_)
            | Op::Pool(_)
            | Op::Conv(_)
            | Op::Embedding(_)
            | Op::MakeMask(_)
            | Op::Masking(_)
            | Op::Categorical(_) => false,
        }
    }

    /// The output shape of one sample, from the input shapes (batch left out everywhere).
    /// Errors are plain sentences; the graph builder adds the file and layer.
    pub fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        let first = inputs.first().copied().unwrap_or(&[]);
        match self {
            Op::Input | Op::Activation(_) | Op::PRelu(_) | Op::Identity => Ok(first.to_vec()),
            Op::Dense(d) => d.output_shape(first),
            Op::Softmax(s) => norm::same_shape(&s.axes, first),
            Op::Reshape(r) => r.output_shape(first),
            Op::Permute(p) => p.output_shape(first),
            Op::Repeat(r) => r.output_shape(first),
            Op::Merge(kind) => kind.output_shape(inputs),
            Op::Concatenate(c) => c.output_shape(inputs),
            Op::BatchNorm(n) => norm::same_shape(&n.axes, first),
            Op::LayerNorm(n) => norm::same_shape(&n.axes, first),
            Op::L2Normalize(n) => norm::same_shape(&n.axes, first),
            Op::Mean(m) => m.output_shape(first),
            Op::RmsNorm(n) => norm::same_shape(&n.axes, first),
            Op::GroupNorm(n) => n.output_shape(first),
            Op::Scale(s) => s.output_shape(first),
            Op::Pad(p) => p.output_shape(first),
            Op::Resample(r) => r.output_shape(first),
            Op::Pool(p) => p.output_shape(first),
            Op::Conv(c) => c.output_shape(first),
            Op::Recurrent(r) => r.output_shape(first),
            Op::Embedding(e) => Ok(e.output_shape(first)),
            Op::MakeMask(m) => m.output_shape(first),
            Op::Masking(_) => Ok(first.to_vec()),
            Op::MaskedMean(m) => m.output_shape(first),
            Op::Attention(a) => a.output_shape(inputs),
            Op::PerStep(p) => p.output_shape(inputs),
            Op::Dot(d) => d.output_shape(inputs),
            Op::Categorical(c) => c.output_shape(first),
        }
    }

    /// The weights the op expects, in Keras's order, given its (first) input's sample shape.
    pub fn weights(&self, input: &[usize]) -> Result<Vec<WeightSpec>, String> {
        Ok(match self {
            Op::Dense(d) => d.weights(input),
            Op::PRelu(p) => p.weights(input)?,
            Op::BatchNorm(n) => n.weights(input),
            Op::LayerNorm(n) => n.weights(input),
            Op::Conv(c) => c.weights(input)?,
            Op::RmsNorm(n) => n.weights(input),
            Op::GroupNorm(n) => n.weights(input),
            Op::Scale(s) => s.weights(input),
            Op::Recurrent(r) => r.weights(input),
            Op::Embedding(e) => e.weights(),
            Op::Attention(a) => a.weights(input),
            Op::PerStep(p) => p.weights(input)?,
            Op::Input
            | Op::Activation(_)
            | Op::Softmax(_)
            | Op::Identity
            | Op::Reshape(_)
            | Op::Permute(_)
            | Op::Repeat(_)
            | Op::Merge(_)
            | Op::Concatenate(_)
            | Op::L2Normalize(_)
            | Op::Mean(_)
            | Op::Pad(_)
            | Op::Resample(_)
            | Op::Pool(_)
            | Op::MakeMask(_)
            | Op::Masking(_)
            | Op::MaskedMean(_)
            | Op::Dot(_)
            | Op::Categorical(_) => Vec::new(),
        })
    }

    /// Multiply–adds per sample, the figure benchmarks turn into GFLOP/s (the matrix products
    /// that dominate a model's time; elementwise ops count 0).
    pub fn macs(&self, inputs: &[&[usize]], output: &[usize]) -> u64 {
        let input = inputs.first().copied().unwrap_or(&[]);
        match self {
            Op::Attention(a) => a.macs(inputs),
            Op::Dense(d) => d.macs(input, output),
            Op::Conv(c) => c.macs(input, output),
            Op::Recurrent(r) => r.macs(input),
            Op::PerStep(p) => p.macs(inputs, output),
            Op::Dot(d) => d.macs(inputs),
            Op::Input
            | Op::Activation(_)
            | Op::Softmax(_)
            | Op::PRelu(_)
            | Op::Identity
            | Op::Reshape(_)
            | Op::Permute(_)
            | Op::Repeat(_)
            | Op::Merge(_)
            | Op::Concatenate(_)
            | Op::BatchNorm(_)
            | Op::LayerNorm(_)
            | Op::L2Normalize(_)
            | Op::Mean(_)
            | Op::RmsNorm(_)
            | Op::GroupNorm(_)
            | Op::Scale(_)
            | Op::Pad(_)
            | Op::Resample(_)
            | Op::Pool(_)
            | Op::Embedding(_)
            | Op::MakeMask(_)
            | Op::Masking(_)
            | Op::MaskedMean(_)
            | Op::Categorical(_) => 0,
        }
    }

    /// Computes the op on the CPU from its input values and its (already converted) weights;
    /// `out_shape` is the output's full shape, batch included.
    pub fn eval<T: Real>(
        &self,
        inputs: &[&ArrayD<T>],
        weights: &[&ArrayD<T>],
        out_shape: &[usize],
    ) -> ArrayD<T> {
        let x = inputs[0];
        match self {
            Op::Input | Op::Identity => x.clone(),
            Op::Dense(d) => d.eval(x, weights, out_shape),
            Op::Activation(a) => a.eval(x),
            Op::Softmax(s) => s.eval(x),
            Op::PRelu(_) => activation::prelu(x, weights[0]),
            Op::Reshape(_) => layout::reshape(x, out_shape),
            Op::Permute(p) => p.eval(x, out_shape),
            Op::Repeat(r) => r.eval(x, out_shape),
            Op::Merge(kind) => kind.eval(inputs, out_shape),
            Op::Concatenate(c) => c.eval(inputs),
            Op::BatchNorm(n) => n.eval(x, weights),
            Op::LayerNorm(n) => n.eval(x, weights),
            Op::L2Normalize(n) => n.eval(x),
            Op::Mean(m) => m.eval(x, out_shape),
            Op::RmsNorm(n) => n.eval(x, weights),
            Op::GroupNorm(n) => n.eval(x, weights),
            Op::Scale(s) => s.eval(x, weights),
            Op::Pad(p) => p.eval(x, out_shape),
            Op::Resample(r) => r.eval(x, out_shape),
            Op::Pool(p) => p.eval(x, out_shape),
            Op::Conv(c) => c.eval(x, weights),
            Op::Recurrent(r) => r.eval(inputs, weights),
            Op::Embedding(e) => e.eval(x, weights[0], out_shape),
            Op::MakeMask(m) => m.eval(x),
            Op::Masking(m) => m.eval(x),
            Op::MaskedMean(m) => m.eval(x, inputs[1], out_shape),
            Op::Attention(a) => a.eval(inputs, weights),
            Op::PerStep(p) => p.eval(inputs, weights, out_shape),
            Op::Dot(d) => d.eval(x, inputs[1], out_shape),
            Op::Categorical(c) => c.eval(x, out_shape),
        }
    }
}
