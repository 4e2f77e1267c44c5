//! Each kernel's uniform parameters as a named Rust struct. [`kernel_params!`] declares the
//! struct once and its WGSL twin is generated from the same declaration (field names, order and
//! types), so a shader reads `cv.filters` where the planner wrote `filters`. Layouts agree by
//! construction: the field types below have WGSL's alignment, `Pod` refuses any implicit
//! padding, and tests/shaders.rs checks every struct's offsets against naga's layout.

use bytemuck::{Pod, Zeroable};

/// Bytes of one dispatch's parameter slot; every parameter struct fits.
pub const PARAMS_SLOT: usize = 256;

/// A field type of a parameter struct and its WGSL spelling.
pub trait Field {
    const WGSL: &'static str;
}

impl Field for u32 {
    const WGSL: &'static str = "u32";
}

impl Field for f32 {
    const WGSL: &'static str = "f32";
}

/// Up to 8 per-dimension values (a shape, strides): `array<vec4<u32>, 2>`, read with `at(x, d)`.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Idx(pub [u32; 8]);

impl Field for Idx {
    const WGSL: &'static str = "array<vec4<u32>, 2>";
}

impl Idx {
    /// The values, zero past them; at most 8.
    pub fn of(values: &[usize]) -> Self {
        let mut out = [0; 8];
        for (d, &v) in out.iter_mut().zip(values) {
            *d = v as u32;
        }
        Idx(out)
    }
}

/// Up to 4 per-axis values (one per spatial axis of a window): `vec4<u32>`.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Axes(pub [u32; 4]);

impl Field for Axes {
    const WGSL: &'static str = "vec4<u32>";
}

impl Axes {
    pub fn of(values: &[usize]) -> Self {
        let mut out = [0; 4];
        for (d, &v) in out.iter_mut().zip(values) {
            *d = v as u32;
        }
        Axes(out)
    }
}

/// An activation's parameters (`act_params`): `vec4<f32>`.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct ActArgs(pub [f32; 4]);

impl Field for ActArgs {
    const WGSL: &'static str = "vec4<f32>";
}

/// Up to 4 per-axis reals: `vec4<f32>`.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Floats(pub [f32; 4]);

impl Field for Floats {
    const WGSL: &'static str = "vec4<f32>";
}

/// Explicit padding of N words up to a 16-byte boundary.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pad<const N: usize>(pub [u32; N]);

impl<const N: usize> Default for Pad<N> {
    fn default() -> Self {
        Pad([0; N])
    }
}
// SAFETY: a transparent wrapper of a u32 array, which is Pod for every N.
unsafe impl<const N: usize> Zeroable for Pad<N> {}
unsafe impl<const N: usize> Pod for Pad<N> {}

impl<const N: usize> Field for Pad<N> {
    // Spelled as N scalars (`_pad: Pad<2>` becomes `_pad_0: u32, _pad_1: u32`).
    const WGSL: &'static str = "pad";
}

/// A parameter struct's layout, as its WGSL declaration is generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamsDecl {
    pub name: &'static str,
    /// (name, WGSL type, byte offset, words) of each field, in order.
    pub fields: &'static [(&'static str, &'static str, usize, usize)],
    pub size: usize,
}

impl ParamsDecl {
    /// `struct Name { field: type, ... }` in WGSL.
    pub fn wgsl(&self) -> String {
        let mut s = format!("struct {} {{\n", self.name);
        for &(name, ty, _, words) in self.fields {
            if ty == "pad" {
                for w in 0..words {
                    s += &format!("    {name}_{w}: u32,\n");
                }
            } else {
                s += &format!("    {name}: {ty},\n");
            }
        }
        s + "}\n"
    }
}

/// The parameters a kernel reads at binding 0.
pub trait KernelParams: Pod + Send + Sync + 'static {
    const DECL: ParamsDecl;
}

/// Declares a parameter struct: `#[repr(C)]`, `Pod`, with its [`ParamsDecl`].
macro_rules! kernel_params {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty),*
        }

        impl KernelParams for $name {
            const DECL: ParamsDecl = ParamsDecl {
                name: stringify!($name),
                fields: &[$((
                    stringify!($field),
                    <$ty as Field>::WGSL,
                    std::mem::offset_of!($name, $field),
                    std::mem::size_of::<$ty>() / 4,
                )),*],
                size: std::mem::size_of::<$name>(),
            };
        }

        impl Field for $name {
            const WGSL: &'static str = stringify!($name);
        }

        const _: () = assert!(std::mem::size_of::<$name>() <= PARAMS_SLOT);
    };
}

kernel_params! {
    /// A grouped reduction (softmax, layer norm, L2 normalisation): `count` groups, each the
    /// elements that share their kept coordinates. Group g starts at
    /// `offset_of(g, kept_rank, kept_dims, kept_strides)`; its r-th element (row-major over the
    /// reduced axes) sits at `offset_of(r, reduced_rank, reduced_dims, reduced_strides)` from
    /// there, `len` elements per group.
    Groups {
        count: u32,
        kept_rank: u32,
        reduced_rank: u32,
        len: u32,
        kept_dims: Idx,
        kept_strides: Idx,
        reduced_dims: Idx,
        reduced_strides: Idx,
    }
}

kernel_params! {
    /// `act_map` / `act_window`: an elementwise activation over `n` vec4s.
    ActParams {
        act: ActArgs,
        n: u32,
        _pad: Pad<3>,
    }
}

kernel_params! {
    /// `prelu`: `n` elements; alpha's index is `i % sample_len` when `rank` is 0, else
    /// `offset_of(i, rank, dims, alpha_strides)` (stride 0 on shared axes).
    PreluParams {
        n: u32,
        rank: u32,
        sample_len: u32,
        _pad: Pad<1>,
        dims: Idx,
        alpha_strides: Idx,
    }
}

kernel_params! {
    /// `softmax` over each group; `log` for log-softmax, `logsumexp` for Keras's softmax over
    /// several axes (a group whose max is +inf is exp(x - inf) then, not NaN).
    SoftmaxParams {
        groups: Groups,
        log: u32,
        logsumexp: u32,
        _pad: Pad<2>,
    }
}

kernel_params! {
    /// `mean`: one output per group.
    MeanParams {
        groups: Groups,
    }
}

kernel_params! {
    /// `l2_normalize`: x / sqrt(max(sum x², floor)) over each group.
    L2Params {
        groups: Groups,
        floor: f32,
        _pad: Pad<3>,
    }
}

kernel_params! {
    /// `layer_norm` over each group; gamma and beta are indexed by the element's rank in its
    /// group; `rms` is 1 for Keras 3's rms_scaling (centred variance), 2 for RMSNormalization
    /// (the mean square).
    LayerNormParams {
        groups: Groups,
        epsilon: f32,
        scale: u32,
        center: u32,
        rms: u32,
    }
}

kernel_params! {
    /// `group_norm`: layer norm over each (sample, group) of `groups`; the group's channels
    /// start at `(g % num_groups)·group_channels`, and its r-th element is channel
    /// `(r / inner) % group_channels` of them (`inner` 1 with the channels last).
    GroupNormParams {
        groups: Groups,
        epsilon: f32,
        num_groups: u32,
        group_channels: u32,
        inner: u32,
        scale: u32,
        center: u32,
        _pad: Pad<2>,
    }
}

kernel_params! {
    /// `batch_norm` / `batch_norm_window` / `affine`: per-feature constants over `n` elements
    /// (vec4s for the window kernel); the constants' index c = (i / inner) % channels when
    /// `rank` is 0, else `offset_of(i, rank, dims, const_strides)`.
    BatchNormParams {
        n: u32,
        rank: u32,
        inner: u32,
        channels: u32,
        dims: Idx,
        const_strides: Idx,
    }
}

kernel_params! {
    /// `gemm_tiled`: C[m, n0 + j] = act(A[m, :] · B[:, j] + bias[n0 + j]) for an M × N × K
    /// product, C's rows `ldc` apart.
    GemmTiledParams {
        act: ActArgs,
        m: u32,
        n: u32,
        k: u32,
        ldc: u32,
        n0: u32,
        has_bias: u32,
        _pad: Pad<2>,
    }
}

kernel_params! {
    /// `pack_a`: copies A [m, k] into the texture of the software GEMM, `k4` texels per row and
    /// `rows_per_layer` rows per array layer.
    PackAParams {
        m: u32,
        k: u32,
        k4: u32,
        rows_per_layer: u32,
    }
}

kernel_params! {
    /// `gemm_soft*`: one column panel of `np` columns starting at column `n0` of C (rows `ldc`
    /// apart); A's texture holds `ha` rows per layer, B's `hb4` k-quads per layer, `k4` k-quads
    /// in all; `act_code` is the activation when the pipeline's ACT is ACT_DYNAMIC.
    GemmSoftParams {
        act: ActArgs,
        m: u32,
        np: u32,
        ldc: u32,
        has_bias: u32,
        n0: u32,
        ha: u32,
        hb4: u32,
        k4: u32,
        act_code: u32,
        _pad: Pad<3>,
    }
}

kernel_params! {
    /// `merge*`: out = a op b over `n` elements (vec4s for the window kernels), `rank` output
    /// dims; a dense operand is indexed by i directly, else through its strides (0 on
    /// broadcast axes). `divisor` divides the result (Average's last step), 0 for none;
    /// `scale` multiplies b for the scaled add.
    MergeParams {
        n: u32,
        rank: u32,
        a_dense: u32,
        b_dense: u32,
        divisor: f32,
        scale: f32,
        _pad: Pad<2>,
        dims: Idx,
        a_strides: Idx,
        b_strides: Idx,
    }
}

kernel_params! {
    /// `copy_strided`: dst[dst_base + d(i)] = src[src_base + s(i)] over `n` elements of `dims`,
    /// a dense side at i, the other through its strides.
    CopyParams {
        n: u32,
        rank: u32,
        dst_base: u32,
        src_base: u32,
        dst_dense: u32,
        src_dense: u32,
        _pad: Pad<2>,
        dims: Idx,
        src_strides: Idx,
        dst_strides: Idx,
    }
}

kernel_params! {
    /// `pad`: each of the `n` output elements (output `dims`) gathers the source element
    /// `before` rows back on each axis (i32 bits; negative crops), 0 outside `src_dims`.
    PadParams {
        n: u32,
        rank: u32,
        _pad: Pad<2>,
        dims: Idx,
        src_strides: Idx,
        before: Idx,
        src_dims: Idx,
    }
}

kernel_params! {
    /// `pool`: `n` output cells of `dims` (batch included, `rank` axes), each the max or (when
    /// `average`) the mean of its window's `window_cells` source cells; per sample axis a
    /// (at most 4): window, stride, rows padded before and the source size.
    PoolParams {
        n: u32,
        rank: u32,
        window_cells: u32,
        average: u32,
        dims: Idx,
        src_strides: Idx,
        window: Axes,
        strides: Axes,
        pad_before: Axes,
        src_sizes: Axes,
    }
}

kernel_params! {
    /// `conv`: `n` output values of `dims` (batch included); `spatial` axes, `groups` groups of
    /// `group_channels` input channels, `filters` outputs; per spatial axis: window, stride,
    /// dilation, rows padded before and the source size.
    ConvParams {
        act: ActArgs,
        n: u32,
        spatial: u32,
        group_channels: u32,
        filters: u32,
        groups: u32,
        channels_first: u32,
        has_bias: u32,
        _pad: Pad<1>,
        dims: Idx,
        src_strides: Idx,
        window: Axes,
        strides: Axes,
        dilation: Axes,
        pad_before: Axes,
        src_sizes: Axes,
    }
}

kernel_params! {
    /// `resample`: `n` output cells of `dims` (batch included, `rank` axes); per spatial axis
    /// (`spatial` of them, after the channels when `channels_first`) the source's size, the
    /// rows of `fill` added on both sides, the window `start`..`start + len` of the padded
    /// rows and `scale` = len / output size (float32); nearest, or bilinear over 2 axes.
    ResampleParams {
        n: u32,
        rank: u32,
        spatial: u32,
        bilinear: u32,
        channels_first: u32,
        fill: f32,
        _pad: Pad<2>,
        dims: Idx,
        src_strides: Idx,
        src_sizes: Axes,
        pad: Axes,
        start: Axes,
        len: Axes,
        scale: Floats,
    }
}

kernel_params! {
    /// `compare`: the difference records of `n` element pairs under atol/rtol (`rel_floor`
    /// bounds the relative error's denominator).
    CompareParams {
        n: u32,
        atol: f32,
        rtol: f32,
        rel_floor: f32,
    }
}

kernel_params! {
    /// `top1`: rows of `width` classes whose argmax agrees.
    Top1Params {
        rows: u32,
        width: u32,
        _pad: Pad<2>,
    }
}

kernel_params! {
    /// `recurrent_step`: `n` = batch·units invocations, one (sample, unit) each; step `s` of
    /// `steps` reads input step `t`, the previous h from state half `read_half` (none when
    /// `first`); `cell` 0 SimpleRNN, 1 LSTM, 2 GRU with reset_after, 3 without (phase 0 its
    /// reset gates, phase 1 the rest); `sequences`: write every step's h (at `out_step`), else
    /// the last (`emit` 1: the final h, 2: the final c).
    RecurrentParams {
        act: ActArgs,
        rec: ActArgs,
        n: u32,
        units: u32,
        features: u32,
        steps: u32,
        gates: u32,
        t: u32,
        s: u32,
        cell: u32,
        has_bias: u32,
        act_code: u32,
        rec_code: u32,
        phase: u32,
        sequences: u32,
        first: u32,
        read_half: u32,
        masked: u32,
        zero_output: u32,
        out_step: u32,
        emit: u32,
        _pad: Pad<1>,
    }
}

kernel_params! {
    /// `conv_lstm_step`: `n` = batch·positions·units invocations, one state value each (the
    /// state an image of `positions` positions over `spatial` axes of `sizes`, `units`
    /// channels, first when `channels_first`); step `s` of `steps` reads the input convolution
    /// of step `t` and the previous h from state half `read_half` (none when `first`) through
    /// the recurrent `window` (`pad_before` rows padded before, stride 1); `sequences`: write
    /// every step's h, else the last (`emit` 2: the final c).
    ConvLstmParams {
        act: ActArgs,
        rec: ActArgs,
        n: u32,
        units: u32,
        positions: u32,
        steps: u32,
        t: u32,
        s: u32,
        spatial: u32,
        channels_first: u32,
        act_code: u32,
        rec_code: u32,
        sequences: u32,
        first: u32,
        read_half: u32,
        emit: u32,
        _pad: Pad<2>,
        sizes: Axes,
        window: Axes,
        pad_before: Axes,
    }
}

kernel_params! {
    /// `attention`: `n` = batch·heads·tq invocations, one row of scores each; `score` 0 dot,
    /// 1 concat, 2 additive; `scaled` the layer's learned scale (`w_scale` for dot and concat),
    /// `w_concat` the concat score weight; `has_const`: MultiHeadAttention's `const_scale`, on
    /// the query (`const_on_query`) or the scores; a masked score becomes `fill`, or itself plus
    /// `fill` (`fill_add`); `query_mode` 0 the query mask masks scores, 1 zeroes the output,
    /// 2 multiplies it; `has_qm`, `has_km`, `has_am` which masks are bound; `zero_masked`: a
    /// masked score weighs 0 after the softmax; `emit_scores`: write the weights
    /// `[b, heads, tq, tk]` instead of the weighted values.
    AttentionParams {
        n: u32,
        tq: u32,
        tk: u32,
        heads: u32,
        dk: u32,
        dv: u32,
        score: u32,
        scaled: u32,
        w_scale: f32,
        w_concat: f32,
        has_const: u32,
        const_scale: f32,
        const_on_query: u32,
        causal: u32,
        fill_add: u32,
        fill: f32,
        query_mode: u32,
        has_qm: u32,
        has_km: u32,
        has_am: u32,
        zero_masked: u32,
        emit_scores: u32,
        _pad: Pad<2>,
    }
}

kernel_params! {
    /// The Dot layer (dot.wgsl): `n` output values, `rows`·`cols` per sample, each a sum over
    /// `depth`; `after_x` and `after_y` are the strides of each input's dot axis; with
    /// `normalize`, each side is divided by sqrt(max(Σv², `floor`)) first.
    DotParams {
        n: u32,
        rows: u32,
        cols: u32,
        depth: u32,
        after_x: u32,
        after_y: u32,
        normalize: u32,
        floor: f32,
    }
}

kernel_params! {
    /// Categorical preprocessing (categorical.wgsl): `n` output values; `kind` 0 encodes
    /// `per_row` ids into `tokens` columns (`count`: how many, else whether; an id outside
    /// them NaN with `nan_out_of_range`), 1 counts the `table_len` boundaries at or below a
    /// value, 2 looks an id up in the `table_len` vocabulary (`oov_indices`, `mask_token`).
    CategoricalParams {
        n: u32,
        kind: u32,
        tokens: u32,
        per_row: u32,
        count: u32,
        nan_out_of_range: u32,
        table_len: u32,
        oov_indices: u32,
        has_mask: u32,
        mask_token: f32,
        _pad: Pad<2>,
    }
}

kernel_params! {
    /// The sequence kernels (sequence.wgsl): `n` invocations; `width` values per step (the
    /// embedding's width, the features), `rows` table rows, `steps` per sample; `kind` 0 a mask
    /// of the values other than `value`, 1 of the steps with a feature other than `value`.
    SequenceParams {
        n: u32,
        width: u32,
        rows: u32,
        steps: u32,
        kind: u32,
        value: f32,
        _pad: Pad<2>,
    }
}
