// Normalisations: L2 normalisation and layer norm (grouped reductions, see common.wgsl), and
// inference batch norm (elementwise with per-channel constants).

// ---- l2_normalize: y = x / sqrt(max(sum x^2, floor)) over each group ----
// Bindings: 0 L2Params, 1 x, 2 y. One invocation per group.

@group(0) @binding(0) var<uniform> l2p: L2Params;

@group(0) @binding(1) var<storage, read> l2_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> l2_y: array<f32>;

@compute @workgroup_size(WG)
fn l2_normalize(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let g = flat_id(wid, nwg, li);
    if (g >= l2p.groups.count) {
        return;
    }
    let base = group_base(l2p.groups, g);
    var s = 0.0;
    for (var r = 0u; r < l2p.groups.len; r++) {
        let x = l2_x[base + red_offset(l2p.groups, r)];
        s += x * x;
    }
    let d = sqrt(max_nan(s, l2p.floor));
    for (var r = 0u; r < l2p.groups.len; r++) {
        let o = base + red_offset(l2p.groups, r);
        l2_y[o] = l2_x[o] / d;
    }
}

// ---- mean: y[g] = the mean of group g (the groups in the order of the kept axes, which is the
// output's row-major order) ----
// Bindings: 0 MeanParams, 1 x, 2 y. One invocation per group.

@group(0) @binding(0) var<uniform> mnp: MeanParams;
@group(0) @binding(1) var<storage, read> mn_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> mn_y: array<f32>;

@compute @workgroup_size(WG)
fn mean(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let g = flat_id(wid, nwg, li);
    if (g >= mnp.groups.count) {
        return;
    }
    let base = group_base(mnp.groups, g);
    var s = 0.0;
    for (var r = 0u; r < mnp.groups.len; r++) {
        s += mn_x[base + red_offset(mnp.groups, r)];
    }
    mn_y[g] = s / f32(mnp.groups.len);
}

// ---- layer_norm ----
// y = (x - mean) / sqrt(var + eps) [* gamma] [+ beta], or with rms scaling x / sqrt(var + eps) * gamma
// (Keras 3: the variance is still centred). Two passes for mean and variance.
// Bindings: 0 LayerNormParams, 1 x, 2 gamma, 3 beta (dummies when absent), 4 y.

@group(0) @binding(0) var<uniform> lnp: LayerNormParams;

@group(0) @binding(1) var<storage, read> ln_x: array<f32>;
@group(0) @binding(2) var<storage, read> ln_gamma: array<f32>;
@group(0) @binding(3) var<storage, read> ln_beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> ln_y: array<f32>;

// The mean of the group at `base` (0 when not `centred`) and the sum of the squared deviations
// from it, in two passes over ln_x (layer_norm and group_norm share these bindings).
fn ln_moments(gr: Groups, base: u32, centred: bool) -> vec2<f32> {
    let n = f32(gr.len);
    var s = 0.0;
    for (var r = 0u; r < gr.len; r++) {
        s += ln_x[base + red_offset(gr, r)];
    }
    let mean = select(0.0, s / n, centred);
    var ss = 0.0;
    for (var r = 0u; r < gr.len; r++) {
        let d = ln_x[base + red_offset(gr, r)] - mean;
        ss += d * d;
    }
    return vec2<f32>(mean, ss);
}

@compute @workgroup_size(WG)
fn layer_norm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let g = flat_id(wid, nwg, li);
    if (g >= lnp.groups.count) {
        return;
    }
    let base = group_base(lnp.groups, g);
    let count = lnp.groups.len;
    // RMSNormalization (rms 2) takes the mean square, uncentred.
    let m = ln_moments(lnp.groups, base, lnp.rms != 2u);
    let mean = m.x;
    let inv = 1.0 / sqrt(m.y / f32(count) + lnp.epsilon);
    for (var r = 0u; r < count; r++) {
        let o = base + red_offset(lnp.groups, r);
        let x = ln_x[o];
        var y: f32;
        if (lnp.rms != 0u) {
            y = x * inv * ln_gamma[r];
        } else {
            y = (x - mean) * inv;
            if (lnp.scale != 0u) {
                y = y * ln_gamma[r];
            }
            if (lnp.center != 0u) {
                y = y + ln_beta[r];
            }
        }
        ln_y[o] = y;
    }
}

// ---- group_norm: layer_norm's two passes over each (sample, group), then
// y = x·inv + (beta − mean·inv) with inv = rsqrt(var + eps)·gamma per channel, as Keras ----
// Bindings: 0 GroupNormParams, 1 x, 2 gamma, 3 beta (dummies when absent), 4 y: layer_norm's.

@group(0) @binding(0) var<uniform> gnp: GroupNormParams;

@compute @workgroup_size(WG)
fn group_norm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let g = flat_id(wid, nwg, li);
    if (g >= gnp.groups.count) {
        return;
    }
    let base = group_base(gnp.groups, g);
    let count = gnp.groups.len;
    let m = ln_moments(gnp.groups, base, true);
    let mean = m.x;
    let inv0 = 1.0 / sqrt(m.y / f32(count) + gnp.epsilon);
    // The group's first channel; element r's channel within the group.
    let c0 = (g % gnp.num_groups) * gnp.group_channels;
    for (var r = 0u; r < count; r++) {
        let c = c0 + (r / gnp.inner) % gnp.group_channels;
        var inv = inv0;
        if (gnp.scale != 0u) {
            inv = inv * ln_gamma[c];
        }
        var res = -(mean * inv);
        if (gnp.center != 0u) {
            res = res + ln_beta[c];
        }
        let o = base + red_offset(gnp.groups, r);
        ln_y[o] = ln_x[o] * inv + res;
    }
}

// ---- affine: y = ((x − sub[c]) / div[c])·mul[c] + add[c] (Rescaling, Normalization,
// LayerScale: constants chosen so this rounds as Keras's own formula) ----
// Bindings: 0 BatchNormParams (for the constants' index c), 1 x, 2 sub, 3 div, 4 mul, 5 add,
// 6 y.

@group(0) @binding(1) var<storage, read> af_x: array<f32>;
@group(0) @binding(2) var<storage, read> af_sub: array<f32>;
@group(0) @binding(3) var<storage, read> af_div: array<f32>;
@group(0) @binding(4) var<storage, read> af_mul: array<f32>;
@group(0) @binding(5) var<storage, read> af_add: array<f32>;
@group(0) @binding(6) var<storage, read_write> af_y: array<f32>;

@compute @workgroup_size(WG)
fn affine(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= bnp.n) {
        return;
    }
    var c = (i / bnp.inner) % bnp.channels;
    if (bnp.rank != 0u) {
        c = offset_of(i, bnp.rank, bnp.dims, bnp.const_strides);
    }
    af_y[i] = (af_x[i] - af_sub[c]) / af_div[c] * af_mul[c] + af_add[c];
}

// ---- batch_norm: y = x * inv[c] + shift[c] ----
// inv = gamma / sqrt(var + eps) and shift = beta - mean * inv are computed once on the host,
// in f32 exactly as Keras (and the CPU executor) do.
// Bindings: 0 BatchNormParams, 1 x, 2 inv, 3 shift, 4 y.

@group(0) @binding(0) var<uniform> bnp: BatchNormParams;

@group(0) @binding(1) var<storage, read> bn_x: array<f32>;
@group(0) @binding(2) var<storage, read> bn_inv: array<f32>;
@group(0) @binding(3) var<storage, read> bn_shift: array<f32>;
@group(0) @binding(4) var<storage, read_write> bn_y: array<f32>;

@compute @workgroup_size(WG)
fn batch_norm(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= bnp.n) {
        return;
    }
    var c = (i / bnp.inner) % bnp.channels;
    if (bnp.rank != 0u) {
        c = offset_of(i, bnp.rank, bnp.dims, bnp.const_strides);
    }
    bn_y[i] = bn_x[i] * bn_inv[c] + bn_shift[c];
}

// ---- batch_norm_window: batch_norm for constants over a contiguous block of axes, x read
// through uniform windows ----
// Bindings: 0 BatchNormParams (n counts vec4s), 1 x window, 2 inv, 3 shift, 4 y, 5 window.

@group(0) @binding(1) var<uniform> bw_x: array<vec4<f32>, WINDOW>;
@group(0) @binding(2) var<storage, read> bw_inv: array<f32>;
@group(0) @binding(3) var<storage, read> bw_shift: array<f32>;
@group(0) @binding(4) var<storage, read_write> bw_y: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> bw_win: Window;

@compute @workgroup_size(WG)
fn batch_norm_window(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let at = bw_win.base + i;
    if (i >= WINDOW || at >= bnp.n) {
        return;
    }
    let x = bw_x[i];
    var y: vec4<f32>;
    for (var e = 0u; e < 4u; e++) {
        let c = ((at * 4u + e) / bnp.inner) % bnp.channels;
        y[e] = x[e] * bw_inv[c] + bw_shift[c];
    }
    bw_y[at] = y;
}
