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
