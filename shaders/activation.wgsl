// Elementwise activations, PReLU and softmax.

// The activation of four elements, with the parameters in p.f.
fn activate4(x: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(activate(x.x, p.f), activate(x.y, p.f), activate(x.z, p.f), activate(x.w, p.f));
}

// ---- act_map: y = act(x), four elements per invocation ----
// Bindings: 1 x, 2 y (both padded to a multiple of 4 floats). Params: u.x = vec4 count,
// f = activation parameters. Override ACT selects the activation.

@group(0) @binding(1) var<storage, read> am_x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> am_y: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn act_map(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= p.u.x) {
        return;
    }
    let x = am_x[i];
    am_y[i] = activate4(x);
}

// ---- act_window: act_map reading x through uniform windows (see common.wgsl) ----
// Bindings: 1 x window, 2 y, 3 window. Params: u.x = vec4 count of x, f = activation parameters.

@group(0) @binding(1) var<uniform> aw_x: array<vec4<f32>, WINDOW>;
@group(0) @binding(2) var<storage, read_write> aw_y: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> aw_win: Window;

@compute @workgroup_size(WG)
fn act_window(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let at = aw_win.base + i;
    if (i >= WINDOW || at >= p.u.x) {
        return;
    }
    let x = aw_x[i];
    aw_y[at] = activate4(x);
}

// ---- prelu: y = x < 0 ? alpha * x : x ----
// Bindings: 1 x, 2 alpha, 3 y. Params: u = (n, rank, sample size, -); alpha's index is
// i % sample size when rank == 0, else offset_of(i, rank, dims, s0) (stride 0 on shared axes).

@group(0) @binding(1) var<storage, read> pr_x: array<f32>;
@group(0) @binding(2) var<storage, read> pr_alpha: array<f32>;
@group(0) @binding(3) var<storage, read_write> pr_y: array<f32>;

@compute @workgroup_size(WG)
fn prelu(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= p.u.x) {
        return;
    }
    var ai = i % p.u.z;
    if (p.u.y != 0u) {
        ai = offset_of(i, p.u.y, p.dims, p.s0);
    }
    let x = pr_x[i];
    pr_y[i] = select(x, pr_alpha[ai] * x, x < 0.0);
}

// ---- softmax: exp(x - max) / sum exp(x - max) over each group (see common.wgsl) ----
// A group whose max is not finite (a NaN or +inf in it, or only -inf) is NaN. With logsumexp
// (v.y = 1, Keras's softmax over several axes), one whose max is +inf is exp(x - inf) instead:
// NaN at a +inf, 0 elsewhere (log-softmax: x - inf).
// Bindings: 1 x, 2 y. Params: group layout in u, dims, s0..s2; v.x = 1 for log-softmax.
// One invocation per group.

@group(0) @binding(1) var<storage, read> sm_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> sm_y: array<f32>;

@compute @workgroup_size(WG)
fn softmax(
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
    var mx = sm_x[base];
    for (var r = 1u; r < count; r++) {
        mx = max_nan(mx, sm_x[base + red_offset(r)]);
    }
    if (is_nonfinite_f32(mx)) {
        let lse_inf = p.v.y != 0u && is_pos_inf_f32(mx);
        for (var r = 0u; r < count; r++) {
            let o = base + red_offset(r);
            var y = nan_f32();
            if (lse_inf) {
                let d = sm_x[o] - mx;
                y = select(select(0.0, d, is_nan_f32(d)), d, p.v.x != 0u);
            }
            sm_y[o] = y;
        }
        return;
    }
    var sum = 0.0;
    for (var r = 0u; r < count; r++) {
        sum += exp(sm_x[base + red_offset(r)] - mx);
    }
    if (p.v.x != 0u) {
        let log_sum = log(sum);
        for (var r = 0u; r < count; r++) {
            let o = base + red_offset(r);
            sm_y[o] = sm_x[o] - mx - log_sum;
        }
    } else {
        for (var r = 0u; r < count; r++) {
            let o = base + red_offset(r);
            sm_y[o] = exp(sm_x[o] - mx) / sum;
        }
    }
}
