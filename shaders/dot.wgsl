// The Dot layer (src/ops/dot): per sample, out[i, j] = Σ_k x[i, k] · y[k, j], where around its
// dot axis x is [before, depth, after_x] (row i = before·after_x + after) and y likewise.
// With `normalize`, each side is first divided by sqrt(max(Σ_k v², floor)) along its axis.

// ---- dot: one invocation per output value ----
// Bindings: 0 DotParams, 1 x, 2 y, 3 out.

@group(0) @binding(0) var<uniform> dp: DotParams;
@group(0) @binding(1) var<storage, read> dot_x: array<f32>;
@group(0) @binding(2) var<storage, read> dot_y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dot_out: array<f32>;

// 1 / the L2 norm's divisor of the `depth` values from `base` every `stride` in `v`; 1 without
// normalize.
fn dot_divisor_x(base: u32, stride: u32) -> f32 {
    if (dp.normalize == 0u) {
        return 1.0;
    }
    var s = 0.0;
    for (var k = 0u; k < dp.depth; k++) {
        let v = dot_x[base + k * stride];
        s += v * v;
    }
    return sqrt(max_nan(s, dp.floor));
}

fn dot_divisor_y(base: u32, stride: u32) -> f32 {
    if (dp.normalize == 0u) {
        return 1.0;
    }
    var s = 0.0;
    for (var k = 0u; k < dp.depth; k++) {
        let v = dot_y[base + k * stride];
        s += v * v;
    }
    return sqrt(max_nan(s, dp.floor));
}

@compute @workgroup_size(WG)
fn dot(FLAT_INVOCATION) {
    let o = FLAT_ID;
    if (o >= dp.n) {
        return;
    }
    let per_sample = dp.rows * dp.cols;
    let b = o / per_sample;
    let i = (o % per_sample) / dp.cols;
    let j = o % dp.cols;
    let x0 = b * dp.rows * dp.depth + (i / dp.after_x) * dp.depth * dp.after_x + i % dp.after_x;
    let y0 = b * dp.cols * dp.depth + (j / dp.after_y) * dp.depth * dp.after_y + j % dp.after_y;
    let dx = dot_divisor_x(x0, dp.after_x);
    let dy = dot_divisor_y(y0, dp.after_y);
    var sum = 0.0;
    for (var k = 0u; k < dp.depth; k++) {
        sum += (dot_x[x0 + k * dp.after_x] / dx) * (dot_y[y0 + k * dp.after_y] / dy);
    }
    dot_out[o] = sum;
}
