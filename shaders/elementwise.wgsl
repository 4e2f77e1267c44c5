// Merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum) with Keras broadcasting.
// Keras folds the inputs left to right, ((x0 op x1) op x2) ..., and Average divides once at the
// end; the executor runs `merge` for x0 op x1, then `merge_acc` for each further input.
// Override OP: 0 add (and average), 1 subtract, 2 multiply, 3 maximum, 4 minimum,
// 5 scaled add (a + b·scale, InceptionResNetV2's CustomScaleLayer).

override OP: u32 = 0u;

// Every merge kernel reads MergeParams.
@group(0) @binding(0) var<uniform> mp: MergeParams;

fn combine(a: f32, b: f32) -> f32 {
    switch OP {
        case 1u: { return a - b; }
        case 2u: { return a * b; }
        case 3u: { return max_nan(a, b); }
        case 4u: { return min_nan(a, b); }
        case 5u: { return a + b * mp.scale; }
        default: { return a + b; }
    }
}

// Divides by the divisor on the last step of an Average (0 otherwise).
fn finish(v: f32) -> f32 {
    if (mp.divisor != 0.0) {
        return v / mp.divisor;
    }
    return v;
}

// Four elements of a op b, finished.
fn combine4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(
        finish(combine(a.x, b.x)),
        finish(combine(a.y, b.y)),
        finish(combine(a.z, b.z)),
        finish(combine(a.w, b.w)),
    );
}

// ---- merge: out = a op b ----
// Bindings: 1 a, 2 b, 3 out.

@group(0) @binding(1) var<storage, read> mg_a: array<f32>;
@group(0) @binding(2) var<storage, read> mg_b: array<f32>;
@group(0) @binding(3) var<storage, read_write> mg_out: array<f32>;

@compute @workgroup_size(WG)
fn merge(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= mp.n) {
        return;
    }
    var ia = i;
    if (mp.a_dense == 0u) {
        ia = offset_of(i, mp.rank, mp.dims, mp.a_strides);
    }
    var ib = i;
    if (mp.b_dense == 0u) {
        ib = offset_of(i, mp.rank, mp.dims, mp.b_strides);
    }
    mg_out[i] = finish(combine(mg_a[ia], mg_b[ib]));
}

// ---- merge_acc: out = out op b ----
// Bindings: 1 b, 2 out (b as for merge).

@group(0) @binding(1) var<storage, read> ma_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> ma_out: array<f32>;

@compute @workgroup_size(WG)
fn merge_acc(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= mp.n) {
        return;
    }
    var ib = i;
    if (mp.b_dense == 0u) {
        ib = offset_of(i, mp.rank, mp.dims, mp.b_strides);
    }
    ma_out[i] = finish(combine(ma_out[i], ma_b[ib]));
}

// ---- merge_window: out = a op b for same-shaped a and b, read through uniform windows ----
// Bindings: 1 a window, 2 b window, 3 out, 4 window; n counts vec4s.

@group(0) @binding(1) var<uniform> mw_a: array<vec4<f32>, WINDOW>;
@group(0) @binding(2) var<uniform> mw_b: array<vec4<f32>, WINDOW>;
@group(0) @binding(3) var<storage, read_write> mw_out: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> mw_win: Window;

@compute @workgroup_size(WG)
fn merge_window(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let at = mw_win.base + i;
    if (i >= WINDOW || at >= mp.n) {
        return;
    }
    let a = mw_a[i];
    let b = mw_b[i];
    mw_out[at] = combine4(a, b);
}

// ---- merge_acc_window: out = out op b for same-shaped b, b read through uniform windows ----
// Bindings: 1 b window, 2 out, 3 window; n counts vec4s.

@group(0) @binding(1) var<uniform> mwa_b: array<vec4<f32>, WINDOW>;
@group(0) @binding(2) var<storage, read_write> mwa_out: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> mwa_win: Window;

@compute @workgroup_size(WG)
fn merge_acc_window(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let at = mwa_win.base + i;
    if (i >= WINDOW || at >= mp.n) {
        return;
    }
    let a = mwa_out[at];
    let b = mwa_b[i];
    mwa_out[at] = combine4(a, b);
}
