//! Pooling: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D and their Global forms, in either
//! data format. Global pooling is a pool whose window is the whole spatial extent.

mod cpu;

use ndarray::ArrayD;
use serde::Serialize;
use serde_json::Value;

use super::fields::{bool_field, channels_first};
use super::window::{self, sizes, Padding};
use super::{Op, Real};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    /// The largest value in the window; NaN if any is NaN (as XLA's max, Keras 3 on jax).
    Max,
    /// The mean over the window's cells inside the input: with `same` padding the padded
    /// cells are not counted, as TensorFlow and Keras 3 compute it.
    Average,
}

/// A pooling window slid over the sample axes (window and stride 1 on the channel axis).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pool {
    pub kind: PoolKind,
    pub window: Vec<usize>,
    pub strides: Vec<usize>,
    /// `same` padding (output ceil(n / stride), the odd row padded at the end), else `valid`.
    pub same: bool,
    /// Global pooling without keepdims: only this sample axis (the channels) is kept.
    pub keep_only: Option<usize>,
}

pub const CLASSES: &[&str] = &[
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
];

/// Reads a pooling layer whose input sample shape is `input`.
pub fn parse(class: &str, config: &Value, input: &[usize]) -> Result<Op, String> {
    let kind = if class.contains("Max") {
        PoolKind::Max
    } else {
        PoolKind::Average
    };
    let spatial = window::spatial_rank(class);
    if input.len() != spatial + 1 {
        return Err(format!(
            "{class} needs a sample with {} axes ({spatial} spatial and the channels), got {input:?}",
            spatial + 1
        ));
    }
    let channel = if channels_first(config)? { 0 } else { spatial };
    let spatial_axes: Vec<usize> = (0..=spatial).filter(|&a| a != channel).collect();
    let mut window = vec![1; input.len()];
    let mut strides = vec![1; input.len()];
    if class.starts_with("Global") {
        for &a in &spatial_axes {
            window[a] = input[a];
        }
        let keepdims = bool_field(config, "keepdims", false)?;
        return Ok(Op::Pool(Pool {
            kind,
            window,
            strides,
            same: false,
            keep_only: (!keepdims).then_some(channel),
        }));
    }
    let pool = sizes(config, "pool_size", spatial)?.ok_or("the config has no 'pool_size'")?;
    let step = sizes(config, "strides", spatial)?.unwrap_or_else(|| pool.clone());
    for (k, &a) in spatial_axes.iter().enumerate() {
        window[a] = pool[k];
        strides[a] = step[k];
    }
    let same = Padding::parse(config.get("padding"), false)? == Padding::Same;
    Ok(Op::Pool(Pool {
        kind,
        window,
        strides,
        same,
        keep_only: None,
    }))
}

impl Pool {
    pub fn name(&self) -> &'static str {
        match (self.kind, self.keep_only.is_some()) {
            (PoolKind::Max, false) => "max_pool",
            (PoolKind::Average, false) => "avg_pool",
            (PoolKind::Max, true) => "global_max_pool",
            (PoolKind::Average, true) => "global_avg_pool",
        }
    }

    /// Per sample axis: the output size and the rows padded before.
    pub fn geometry(&self, input: &[usize]) -> Result<Vec<(usize, usize)>, String> {
        if self.window.len() != input.len() || self.strides.len() != input.len() {
            return Err(format!(
                "a pool over {} axes does not fit a {input:?} sample",
                self.window.len()
            ));
        }
        input
            .iter()
            .zip(self.window.iter().zip(&self.strides))
            .map(|(&n, (&w, &s))| {
                let padding = if self.same {
                    Padding::Same
                } else {
                    Padding::Valid
                };
                window::axis(n, w, s, 1, padding)
            })
            .collect()
    }

    /// The output of one sample before global pooling drops the pooled axes.
    pub fn pooled_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        Ok(self.geometry(input)?.into_iter().map(|(o, _)| o).collect())
    }

    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        let pooled = self.pooled_shape(input)?;
        Ok(match self.keep_only {
            Some(axis) => vec![pooled[axis]],
            None => pooled,
        })
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, out_shape: &[usize]) -> ArrayD<T> {
        let geometry = self.geometry(&x.shape()[1..]).expect("checked when built");
        cpu::pool(self, x, &geometry)
            .into_shape_with_order(out_shape)
            .expect("global pooling drops only size-1 axes")
    }
}
