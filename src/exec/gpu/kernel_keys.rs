//! Every kernel the GPU executor dispatches, as one typed list: the planner asks for a
//! `Kernel`, and the list of variants naga validates in the tests (`kernels::variants`) is
//! derived from the same constructors, so no dispatched variant goes unchecked.

use super::kernels::{
    soft_max_tile, KernelKey, ShaderFile, SoftTile, ACT_CODES, ACT_DYNAMIC, ACT_WINDOW,
    BATCH_NORM_WINDOW, CONV_GEMM_TILE, MERGE_ACC_WINDOW, MERGE_WINDOW, SOFT_WX, TILED_GX, TILED_GY,
    TILED_TK, WG,
};
use super::params::*;

/// Merge operations the elementwise kernels implement (`merge_code`).
const MERGE_OPS: u32 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// An elementwise activation (`act_code`) over a slot.
    ActMap {
        act: u32,
    },
    /// The same, reading its input through 64 KiB uniform windows.
    ActWindow {
        act: u32,
    },
    Prelu,
    Softmax,
    /// Copies a dense layer's input rows into the A texture of the software GEMM.
    PackA,
    /// The workgroup-tiled GEMM for hardware GPUs, with a fused activation.
    GemmTiled {
        act: u32,
    },
    /// The register-blocked GEMM over textures for software adapters.
    GemmSoft {
        subgroups: bool,
        act: u32,
        tile: SoftTile,
    },
    /// A two-input merge (`merge_code`), or one more input accumulated into the output.
    Merge {
        op: u32,
        accumulate: bool,
    },
    /// The same through uniform windows.
    MergeWindow {
        op: u32,
        accumulate: bool,
    },
    BatchNorm,
    BatchNormWindow,
    /// ((x − sub)/div)·mul + add with per-feature constants.
    Affine,
    LayerNorm,
    GroupNorm,
    /// The mean of each group of a grouped reduction.
    Mean,
    L2Normalize,
    CopyStrided,
    /// Zero padding and cropping as one gather.
    Pad,
    /// Nearest or bilinear resampling of the spatial axes.
    Resample,
    /// Max or average pooling over a window.
    Pool,
    /// A direct convolution with bias and a fused activation (`act_code`).
    Conv {
        act: u32,
    },
    /// A channels-last, ungrouped convolution as a workgroup-tiled implicit GEMM, with bias
    /// and activation.
    ConvGemm {
        act: u32,
    },
    /// A transposed convolution, gathered per output value, with bias and activation.
    ConvTranspose {
        act: u32,
    },
    /// One step of a SimpleRNN, LSTM or GRU layer (activations read from the parameters).
    RecurrentStep,
    /// One step of a ConvLSTM layer: the recurrent convolution and the gates.
    ConvLstmStep,
    /// Embedding lookups.
    Embedding,
    /// The mask of a sequence's real steps.
    MakeMask,
    /// The Masking layer.
    Masking,
    /// The mean over a sequence's real steps.
    MaskedMean,
    /// Attention rows: scores, masked softmax, weighted values.
    Attention,
    /// The Dot layer's products, one output value per invocation.
    Dot,
    /// CategoryEncoding, Discretization's buckets, IntegerLookup's indices.
    Categorical,
    /// The difference records of two tensors (compare.wgsl).
    Compare,
    /// Rows whose argmax agrees (compare.wgsl).
    Top1,
}

impl Kernel {
    /// The parameters this kernel reads at binding 0.
    pub fn params(self) -> ParamsDecl {
        match self {
            Kernel::ActMap { .. } | Kernel::ActWindow { .. } => ActParams::DECL,
            Kernel::Prelu => PreluParams::DECL,
            Kernel::Softmax => SoftmaxParams::DECL,
            Kernel::PackA => PackAParams::DECL,
            Kernel::GemmTiled { .. } => GemmTiledParams::DECL,
            Kernel::GemmSoft { .. } => GemmSoftParams::DECL,
            Kernel::Merge { .. } | Kernel::MergeWindow { .. } => MergeParams::DECL,
            Kernel::BatchNorm | Kernel::BatchNormWindow | Kernel::Affine => BatchNormParams::DECL,
            Kernel::GroupNorm => GroupNormParams::DECL,
            Kernel::Mean => MeanParams::DECL,
            Kernel::Resample => ResampleParams::DECL,
            Kernel::LayerNorm => LayerNormParams::DECL,
            Kernel::L2Normalize => L2Params::DECL,
            Kernel::CopyStrided => CopyParams::DECL,
            Kernel::Pad => PadParams::DECL,
            Kernel::Pool => PoolParams::DECL,
            Kernel::Conv { .. } | Kernel::ConvGemm { .. } | Kernel::ConvTranspose { .. } => {
                ConvParams::DECL
            }
            Kernel::RecurrentStep => RecurrentParams::DECL,
            Kernel::ConvLstmStep => ConvLstmParams::DECL,
            Kernel::Embedding | Kernel::MakeMask | Kernel::Masking | Kernel::MaskedMean => {
                SequenceParams::DECL
            }
            Kernel::Attention => AttentionParams::DECL,
            Kernel::Dot => DotParams::DECL,
            Kernel::Categorical => CategoricalParams::DECL,
            Kernel::Compare => CompareParams::DECL,
            Kernel::Top1 => Top1Params::DECL,
        }
    }

    pub fn key(self) -> KernelKey {
        use ShaderFile as F;
        let params = self.params();
        let new = |file, entry| KernelKey::new(file, entry, params);
        let plain = |file, entry| new(file, entry).with("WG", WG);
        match self {
            Kernel::ActMap { act } => plain(F::Activation, "act_map").with("ACT", act),
            Kernel::ActWindow { act } => plain(F::Activation, "act_window")
                .with("ACT", act)
                .with_layout(ACT_WINDOW),
            Kernel::Prelu => plain(F::Activation, "prelu"),
            Kernel::Softmax => plain(F::Activation, "softmax"),
            Kernel::PackA => plain(F::Dense, "pack_a"),
            Kernel::GemmTiled { act } => new(F::Dense, "gemm_tiled")
                .with("GX", TILED_GX)
                .with("GY", TILED_GY)
                .with("TK", TILED_TK)
                .with("ACT", act),
            Kernel::GemmSoft {
                subgroups,
                act,
                tile,
            } => {
                let (file, entry) = if subgroups {
                    (F::GemmSoftSubgroup, "gemm_soft_sg")
                } else {
                    (F::GemmSoft, "gemm_soft")
                };
                new(file, entry)
                    .with("WX", SOFT_WX)
                    .with("TM", tile.rows)
                    .with("TN4", tile.texels)
                    .with("ACT", act)
            }
            Kernel::Merge { op, accumulate } => {
                let entry = if accumulate { "merge_acc" } else { "merge" };
                plain(F::Elementwise, entry).with("OP", op)
            }
            Kernel::MergeWindow { op, accumulate } => {
                let (entry, layout) = if accumulate {
                    ("merge_acc_window", MERGE_ACC_WINDOW)
                } else {
                    ("merge_window", MERGE_WINDOW)
                };
                plain(F::Elementwise, entry)
                    .with("OP", op)
                    .with_layout(layout)
            }
            Kernel::BatchNorm => plain(F::Normalize, "batch_norm"),
            Kernel::BatchNormWindow => {
                plain(F::Normalize, "batch_norm_window").with_layout(BATCH_NORM_WINDOW)
            }
            Kernel::LayerNorm => plain(F::Normalize, "layer_norm"),
            Kernel::GroupNorm => plain(F::Normalize, "group_norm"),
            Kernel::Mean => plain(F::Normalize, "mean"),
            Kernel::Affine => plain(F::Normalize, "affine"),
            Kernel::Resample => plain(F::Layout, "resample"),
            Kernel::L2Normalize => plain(F::Normalize, "l2_normalize"),
            Kernel::CopyStrided => plain(F::Layout, "copy_strided"),
            Kernel::Pad => plain(F::Layout, "pad"),
            Kernel::Pool => plain(F::Layout, "pool"),
            Kernel::Conv { act } => plain(F::Conv, "conv").with("ACT", act),
            Kernel::ConvGemm { act } => new(F::Conv, "conv_gemm")
                .with("CG", CONV_GEMM_TILE)
                .with("CTK", TILED_TK)
                .with("ACT", act),
            Kernel::ConvTranspose { act } => plain(F::Conv, "conv_transpose").with("ACT", act),
            Kernel::RecurrentStep => plain(F::Recurrent, "recurrent_step"),
            Kernel::ConvLstmStep => plain(F::ConvLstm, "conv_lstm_step"),
            Kernel::Embedding => plain(F::Sequence, "embedding"),
            Kernel::MakeMask => plain(F::Sequence, "make_mask"),
            Kernel::Masking => plain(F::Sequence, "masking"),
            Kernel::MaskedMean => plain(F::Sequence, "masked_mean"),
            Kernel::Attention => plain(F::Attention, "attention"),
            Kernel::Dot => plain(F::Dot, "dot"),
            Kernel::Categorical => plain(F::Categorical, "categorical"),
            Kernel::Compare => new(F::Compare, "compare"),
            Kernel::Top1 => new(F::Compare, "top1"),
        }
    }

    /// Every kernel the executor may ask for: each activation, merge op and GEMM tile.
    pub fn all() -> Vec<Kernel> {
        let mut all = vec![
            Kernel::Prelu,
            Kernel::Softmax,
            Kernel::PackA,
            Kernel::BatchNorm,
            Kernel::BatchNormWindow,
            Kernel::LayerNorm,
            Kernel::GroupNorm,
            Kernel::Mean,
            Kernel::Affine,
            Kernel::Resample,
            Kernel::L2Normalize,
            Kernel::CopyStrided,
            Kernel::Pad,
            Kernel::Pool,
            Kernel::RecurrentStep,
            Kernel::ConvLstmStep,
            Kernel::Embedding,
            Kernel::MakeMask,
            Kernel::Masking,
            Kernel::MaskedMean,
            Kernel::Attention,
            Kernel::Dot,
            Kernel::Categorical,
            Kernel::Compare,
            Kernel::Top1,
        ];
        for act in (0..ACT_CODES).chain([ACT_DYNAMIC]) {
            if act != ACT_DYNAMIC {
                all.extend([
                    Kernel::ActMap { act },
                    Kernel::ActWindow { act },
                    Kernel::GemmTiled { act },
                    Kernel::Conv { act },
                    Kernel::ConvGemm { act },
                    Kernel::ConvTranspose { act },
                ]);
            }
            for subgroups in [false, true] {
                let max = soft_max_tile(subgroups);
                let tiles: Vec<SoftTile> = if act == ACT_DYNAMIC {
                    (1..=max.rows)
                        .flat_map(|rows| {
                            (1..=max.texels).map(move |texels| SoftTile { rows, texels })
                        })
                        .collect()
                } else {
                    vec![SoftTile { rows: 8, texels: 2 }]
                };
                all.extend(tiles.into_iter().map(|tile| Kernel::GemmSoft {
                    subgroups,
                    act,
                    tile,
                }));
            }
        }
        for op in 0..MERGE_OPS {
            for accumulate in [false, true] {
                all.push(Kernel::Merge { op, accumulate });
                all.push(Kernel::MergeWindow { op, accumulate });
            }
        }
        all
    }
}
