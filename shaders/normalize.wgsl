// Normalisations: L2 normalisation and layer norm (grouped reductions, see common.wgsl), and
// inference batch norm (elementwise with per-channel constants).

// ---- l2_normalize: y = x / sqrt(max(sum x^2, floor)) over each group ----
// Bindings: 1 x, 2 y. Params: group layout; f.x = floor. One invocation per group.

@group(0) @binding(1) var<storage, read> l2_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> l2_y: array<f32>;

@compute @workgroup_size(WG)
fn l2_normalize(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let g = flat_id(wid, nwg, li);
    if (g >= p.u.x) {
        return;
    }
    let base = group_base(g);
    var s = 0.0;
    for (var r = 0u; r < p.u.w; r++) {
        let x = l2_x[base + red_offset(r)];
        s += x * x;
    }
    let d = sqrt(max_nan(s, p.f.x));
    for (var r = 0u; r < p.u.w; r++) {
        let o = base + red_offset(r);
        l2_y[o] = l2_x[o] / d;
    }
}

// ---- layer_norm ----
// y = (x - mean) / sqrt(var + eps) [* gamma] [+ beta], or with rms scaling x / sqrt(var + eps) * gamma
// (Keras 3: the variance is still centred). Two passes for mean and variance.
// Bindings: 1 x, 2 gamma, 3 beta (dummies when absent), 4 y. Params: group layout;
// v = (scale, center, rms_scaling, -); f.x = epsilon. gamma/beta are indexed by r.

@group(0) @binding(1) var<storage, read> ln_x: array<f32>;
@group(0) @binding(2) var<storage, read> ln_gamma: array<f32>;
@group(0) @binding(3) var<storage, read> ln_beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> ln_y: array<f32>;

@compute @workgroup_size(WG)
fn layer_norm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let g = flat_id(wid, nwg, li);
    if (g >= p.u.x) {
        return;
    }
    let base = group_base(g);
    let count = p.u.w;
    let n = f32(count);
    var s = 0.0;
    for (var r = 0u; r < count; r++) {
        s += ln_x[base + red_offset(r)];
    }
    let mean = s / n;
    var ss = 0.0;
    for (var r = 0u; r < count; r++) {
        let d = ln_x[base + red_offset(r)] - mean;
        ss += d * d;
    }
    let inv = 1.0 / sqrt(ss / n + p.f.x);
    for (var r = 0u; r < count; r++) {
        let o = base + red_offset(r);
        let x = ln_x[o];
        var y: f32;
        if (p.v.z != 0u) {
            y = x * inv * ln_gamma[r];
        } else {
            y = (x - mean) * inv;
            if (p.v.x != 0u) {
                y = y * ln_gamma[r];
            }
            if (p.v.y != 0u) {
                y = y + ln_beta[r];
            }
        }
        ln_y[o] = y;
    }
}

// ---- batch_norm: y = x * inv[c] + shift[c] ----
// inv = gamma / sqrt(var + eps) and shift = beta - mean * inv are computed once on the host,
// in f32 exactly as Keras (and the CPU executor) do.
// Bindings: 1 x, 2 inv, 3 shift, 4 y. Params: u = (n, rank, inner, channels): the constants'
// index is (i / inner) % channels when rank == 0, else offset_of(i, rank, dims, s0).

@group(0) @binding(1) var<storage, read> bn_x: array<f32>;
@group(0) @binding(2) var<storage, read> bn_inv: array<f32>;
@group(0) @binding(3) var<storage, read> bn_shift: array<f32>;
@group(0) @binding(4) var<storage, read_write> bn_y: array<f32>;

@compute @workgroup_size(WG)
fn batch_norm(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= p.u.x) {
        return;
    }
    var c = (i / p.u.z) % p.u.w;
    if (p.u.y != 0u) {
        c = offset_of(i, p.u.y, p.dims, p.s0);
    }
    bn_y[i] = bn_x[i] * bn_inv[c] + bn_shift[c];
}

// ---- batch_norm_window: batch_norm for constants over a contiguous block of axes, x read
// through uniform windows ----
// Bindings: 1 x window, 2 inv, 3 shift, 4 y, 5 window. Params: u = (vec4 count, -, inner,
// channels): the constants' index of float j is (j / inner) % channels.

@group(0) @binding(1) var<uniform> bw_x: array<vec4<f32>, WINDOW>;
@group(0) @binding(2) var<storage, read> bw_inv: array<f32>;
@group(0) @binding(3) var<storage, read> bw_shift: array<f32>;
@group(0) @binding(4) var<storage, read_write> bw_y: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> bw_win: Window;

@compute @workgroup_size(WG)
fn batch_norm_window(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let at = bw_win.base + i;
    if (i >= WINDOW || at >= p.u.x) {
        return;
    }
    let x = bw_x[i];
    var y: vec4<f32>;
    for (var e = 0u; e < 4u; e++) {
        let c = ((at * 4u + e) / p.u.z) % p.u.w;
        y[e] = x[e] * bw_inv[c] + bw_shift[c];
    }
    bw_y[at] = y;
}
