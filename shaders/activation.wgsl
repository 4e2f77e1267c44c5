// Elementwise activations, PReLU and softmax.

// The activation of four elements.
fn activate4(x: vec4<f32>, a: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(activate(x.x, a), activate(x.y, a), activate(x.z, a), activate(x.w, a));
}

// ---- act_map: y = act(x), four elements per invocation ----
// Bindings: 0 ActParams, 1 x, 2 y (both padded to a multiple of 4 floats). Override ACT
// selects the activation.

@group(0) @binding(0) var<uniform> ap: ActParams;

@group(0) @binding(1) var<storage, read> am_x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> am_y: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn act_map(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= ap.n) {
        return;
    }
    let x = am_x[i];
    am_y[i] = activate4(x, ap.act);
}

// ---- act_window: act_map reading x through uniform windows (see common.wgsl) ----
// Bindings: 0 ActParams, 1 x window, 2 y, 3 window.

@group(0) @binding(1) var<uniform> aw_x: array<vec4<f32>, WINDOW>;
@group(0) @binding(2) var<storage, read_write> aw_y: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> aw_win: Window;

@compute @workgroup_size(WG)
fn act_window(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let at = aw_win.base + i;
    if (i >= WINDOW || at >= ap.n) {
        return;
    }
    let x = aw_x[i];
    aw_y[at] = activate4(x, ap.act);
}

// ---- prelu: y = x < 0 ? alpha * x : x ----
// Bindings: 0 PreluParams, 1 x, 2 alpha, 3 y.

@group(0) @binding(0) var<uniform> prp: PreluParams;

@group(0) @binding(1) var<storage, read> pr_x: array<f32>;
@group(0) @binding(2) var<storage, read> pr_alpha: array<f32>;
@group(0) @binding(3) var<storage, read_write> pr_y: array<f32>;

@compute @workgroup_size(WG)
fn prelu(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= prp.n) {
        return;
    }
    var ai = i % prp.sample_len;
    if (prp.rank != 0u) {
        ai = offset_of(i, prp.rank, prp.dims, prp.alpha_strides);
    }
    let x = pr_x[i];
    pr_y[i] = select(x, pr_alpha[ai] * x, x < 0.0);
}

// ---- softmax: exp(x - max) / sum exp(x - max) over each group (see common.wgsl) ----
// A group whose max is not finite (a NaN or +inf in it, or only -inf) is NaN. With logsumexp
// (Keras's softmax over several axes), one whose max is +inf is exp(x - inf) instead: NaN at a
// +inf, 0 elsewhere (log-softmax: x - inf).
// Bindings: 0 SoftmaxParams, 1 x, 2 y. One invocation per group.

@group(0) @binding(0) var<uniform> smp: SoftmaxParams;

@group(0) @binding(1) var<storage, read> sm_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> sm_y: array<f32>;

@compute @workgroup_size(WG)
fn softmax(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let g = flat_id(wid, nwg, li);
    if (g >= smp.groups.count) {
        return;
    }
    let base = group_base(smp.groups, g);
    let count = smp.groups.len;
    var mx = sm_x[base];
    for (var r = 1u; r < count; r++) {
        mx = max_nan(mx, sm_x[base + red_offset(smp.groups, r)]);
    }
    if (is_nonfinite_f32(mx)) {
        let lse_inf = smp.logsumexp != 0u && is_pos_inf_f32(mx);
        for (var r = 0u; r < count; r++) {
            let o = base + red_offset(smp.groups, r);
            var y = nan_f32();
            if (lse_inf) {
                let d = sm_x[o] - mx;
                y = select(select(0.0, d, is_nan_f32(d)), d, smp.log != 0u);
            }
            sm_y[o] = y;
        }
        return;
    }
    var sum = 0.0;
    for (var r = 0u; r < count; r++) {
        sum += exp(sm_x[base + red_offset(smp.groups, r)] - mx);
    }
    if (smp.log != 0u) {
        let log_sum = log(sum);
        for (var r = 0u; r < count; r++) {
            let o = base + red_offset(smp.groups, r);
            sm_y[o] = sm_x[o] - mx - log_sum;
        }
    } else {
        for (var r = 0u; r < count; r++) {
            let o = base + red_offset(smp.groups, r);
            sm_y[o] = exp(sm_x[o] - mx) / sum;
        }
    }
}
