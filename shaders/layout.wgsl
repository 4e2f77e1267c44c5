// Data movement and windows: permute and concatenate as one strided copy, padding and cropping
// as one gather, pooling. Reshape, Flatten and Identity need no kernel: their output aliases
// their input's buffer.

// ---- copy_strided: dst[dst_base + d(i)] = src[src_base + s(i)] ----
// Bindings: 0 CopyParams, 1 src, 2 dst. Permute walks the output (dense dst, permuted source
// strides); concatenate walks each input (dense src, output strides, dst base at the input's
// offset along the axis).

@group(0) @binding(0) var<uniform> cpp: CopyParams;

@group(0) @binding(1) var<storage, read> cp_src: array<f32>;
@group(0) @binding(2) var<storage, read_write> cp_dst: array<f32>;

@compute @workgroup_size(WG)
fn copy_strided(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= cpp.n) {
        return;
    }
    var si = i;
    if (cpp.src_dense == 0u) {
        si = offset_of(i, cpp.rank, cpp.dims, cpp.src_strides);
    }
    var di = i;
    if (cpp.dst_dense == 0u) {
        di = offset_of(i, cpp.rank, cpp.dims, cpp.dst_strides);
    }
    cp_dst[cpp.dst_base + di] = cp_src[cpp.src_base + si];
}

// ---- pad: dst[i] = src at (output index − before) where that lies inside the source, else 0 ----
// Bindings: 0 PadParams, 1 src, 2 dst (as copy_strided). Zero padding and cropping are the
// same gather.

@group(0) @binding(0) var<uniform> pdp: PadParams;

@compute @workgroup_size(WG)
fn pad(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= pdp.n) {
        return;
    }
    var rem = i;
    var off = 0u;
    var inside = true;
    for (var d = pdp.rank; d > 0u; d--) {
        let size = at(pdp.dims, d - 1u);
        let at_src = i32(rem % size) - bitcast<i32>(at(pdp.before, d - 1u));
        rem /= size;
        if (at_src < 0 || at_src >= i32(at(pdp.src_dims, d - 1u))) {
            inside = false;
        } else {
            off += u32(at_src) * at(pdp.src_strides, d - 1u);
        }
    }
    var v = 0.0;
    if (inside) {
        v = cp_src[off];
    }
    cp_dst[i] = v;
}

// ---- pool: dst[i] = max or mean of the source cells in output cell i's window ----
// Bindings: 0 PoolParams, 1 src, 2 dst (as copy_strided). The mean counts only the cells
// inside the source (TensorFlow's `same` average pooling).

@group(0) @binding(0) var<uniform> plp: PoolParams;

@compute @workgroup_size(WG)
fn pool(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= plp.n) {
        return;
    }
    let rank = plp.rank;
    // The output cell's index, batch first.
    var o: array<u32, 5>;
    var rem = i;
    for (var d = rank; d > 0u; d--) {
        let size = at(plp.dims, d - 1u);
        o[d - 1u] = rem % size;
        rem /= size;
    }
    var acc = -bitcast<f32>(0x7f800000u);
    if (plp.average == 1u) {
        acc = 0.0;
    }
    var count = 0u;
    for (var w = 0u; w < plp.window_cells; w++) {
        var off = o[0] * at(plp.src_strides, 0u);
        var wrem = w;
        var inside = true;
        for (var a = rank - 1u; a > 0u; a--) {
            let s = a - 1u;
            let size = plp.window[s];
            let k = wrem % size;
            wrem /= size;
            let src = i32(o[a] * plp.strides[s] + k) - i32(plp.pad_before[s]);
            if (src < 0 || src >= i32(plp.src_sizes[s])) {
                inside = false;
            } else {
                off += u32(src) * at(plp.src_strides, a);
            }
        }
        if (inside) {
            let v = cp_src[off];
            if (plp.average == 1u) {
                acc += v;
            } else {
                acc = max_nan(acc, v);
            }
            count += 1u;
        }
    }
    if (plp.average == 1u) {
        acc /= f32(max(count, 1u));
    }
    cp_dst[i] = acc;
}

// ---- resample: each output cell samples its source rows per spatial axis: the nearest one, or
// (bilinear, 2 spatial axes) the lerps along the width then the height, as TensorFlow. Rows
// are counted in the input padded with `pad` rows of `fill` on both sides ----
// Bindings: 0 ResampleParams, 1 src, 2 dst (as copy_strided).

@group(0) @binding(0) var<uniform> rsp: ResampleParams;

// Padded row of output row o on spatial axis a: the nearest.
fn rs_nearest(a: u32, o: u32) -> u32 {
    let at = u32(floor((f32(o) + 0.5) * rsp.scale[a]));
    return rsp.start[a] + min(at, rsp.len[a] - 1u);
}

// Padded rows below and above output row o on spatial axis a, and the weight of the upper.
fn rs_source(a: u32, o: u32) -> vec3<f32> {
    let x = (f32(o) + 0.5) * rsp.scale[a] - 0.5;
    let fl = floor(x);
    let last = f32(rsp.len[a] - 1u);
    let lo = min(max(fl, 0.0), last);
    let hi = min(max(ceil(x), 0.0), last);
    return vec3<f32>(f32(rsp.start[a]) + lo, f32(rsp.start[a]) + hi, x - fl);
}

// The source offset of padded row p on spatial axis a (stride `stride`), or -1 in the fill.
fn rs_row(a: u32, p: u32, stride: u32) -> i32 {
    let row = i32(p) - i32(rsp.pad[a]);
    if (row < 0 || row >= i32(rsp.src_sizes[a])) {
        return -1;
    }
    return row * i32(stride);
}

// The value at `base` plus the two row offsets, the fill where either is.
fn rs_value(base: u32, r0: i32, r1: i32) -> f32 {
    if (r0 < 0 || r1 < 0) {
        return rsp.fill;
    }
    return cp_src[base + u32(r0) + u32(r1)];
}

@compute @workgroup_size(WG)
fn resample(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= rsp.n) {
        return;
    }
    // The output cell's index, batch first; spatial axis a is index axis s0 + a.
    var o: array<u32, 5>;
    var rem = i;
    for (var d = rsp.rank; d > 0u; d--) {
        let size = at(rsp.dims, d - 1u);
        o[d - 1u] = rem % size;
        rem /= size;
    }
    let s0 = select(1u, 2u, rsp.channels_first == 1u);
    let c_axis = select(rsp.rank - 1u, 1u, rsp.channels_first == 1u);
    let base = o[0] * at(rsp.src_strides, 0u) + o[c_axis] * at(rsp.src_strides, c_axis);
    if (rsp.bilinear == 0u) {
        var off = base;
        for (var a = 0u; a < rsp.spatial; a++) {
            let row = rs_row(a, rs_nearest(a, o[s0 + a]), at(rsp.src_strides, s0 + a));
            if (row < 0) {
                cp_dst[i] = rsp.fill;
                return;
            }
            off += u32(row);
        }
        cp_dst[i] = cp_src[off];
        return;
    }
    let h = rs_source(0u, o[s0]);
    let w = rs_source(1u, o[s0 + 1u]);
    let sh = at(rsp.src_strides, s0);
    let sw = at(rsp.src_strides, s0 + 1u);
    let h0 = rs_row(0u, u32(h.x), sh);
    let h1 = rs_row(0u, u32(h.y), sh);
    let w0 = rs_row(1u, u32(w.x), sw);
    let w1 = rs_row(1u, u32(w.y), sw);
    let top_l = rs_value(base, h0, w0);
    let top_r = rs_value(base, h0, w1);
    let bot_l = rs_value(base, h1, w0);
    let bot_r = rs_value(base, h1, w1);
    let top = top_l + (top_r - top_l) * w.z;
    let bottom = bot_l + (bot_r - bot_l) * w.z;
    cp_dst[i] = top + (bottom - top) * h.z;
}
