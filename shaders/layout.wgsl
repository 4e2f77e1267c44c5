// Data movement and windows: permute and concatenate as one strided copy, padding and cropping
// as one gather, pooling. Reshape, Flatten and Identity need no kernel: their output aliases
// their input's buffer.

// ---- copy_strided: dst[u.z + offset_of(i, dims, s1)] = src[u.w + offset_of(i, dims, s0)] ----
// Bindings: 1 src, 2 dst. Params: u = (n, rank, dst base, src base), v = (dst is dense,
// src is dense, -, -): a dense side is indexed by base + i. Permute walks the output (dense dst,
// permuted source strides); concatenate walks each input (dense src, output strides, dst base at
// the input's offset along the axis).

@group(0) @binding(1) var<storage, read> cp_src: array<f32>;
@group(0) @binding(2) var<storage, read_write> cp_dst: array<f32>;

@compute @workgroup_size(WG)
fn copy_strided(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= p.u.x) {
        return;
    }
    var si = i;
    if (p.v.y == 0u) {
        si = offset_of(i, p.u.y, p.dims, p.s0);
    }
    var di = i;
    if (p.v.x == 0u) {
        di = offset_of(i, p.u.y, p.dims, p.s1);
    }
    cp_dst[p.u.z + di] = cp_src[p.u.w + si];
}

// ---- pad: dst[i] = src at (output index − before) where that lies inside the source, else 0 ----
// Bindings: 1 src, 2 dst (as copy_strided). Params: u = (n, rank, -, -), dims = output dims,
// s0 = source strides, s1 = rows added before each axis as i32 bits (negative: cropped),
// s2 = source dims. Zero padding and cropping are the same gather.

@compute @workgroup_size(WG)
fn pad(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= p.u.x) {
        return;
    }
    var rem = i;
    var off = 0u;
    var inside = true;
    for (var d = p.u.y; d > 0u; d--) {
        let size = at(p.dims, d - 1u);
        let at_src = i32(rem % size) - bitcast<i32>(at(p.s1, d - 1u));
        rem /= size;
        if (at_src < 0 || at_src >= i32(at(p.s2, d - 1u))) {
            inside = false;
        } else {
            off += u32(at_src) * at(p.s0, d - 1u);
        }
    }
    var v = 0.0;
    if (inside) {
        v = cp_src[off];
    }
    cp_dst[i] = v;
}

// ---- pool: dst[i] = max or mean of the source cells in output cell i's window ----
// Bindings: 1 src, 2 dst (as copy_strided). Params: u = (n, rank, window cells, 0 max | 1 mean),
// dims = output dims (batch included), s0 = source strides (batch included); per sample axis a
// (at most 4): s1[a] window, s1[4 + a] stride, s2[a] rows padded before, s2[4 + a] source size.
// The mean counts only the cells inside the source (TensorFlow's `same` average pooling).

@compute @workgroup_size(WG)
fn pool(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= p.u.x) {
        return;
    }
    let rank = p.u.y;
    // The output cell's index, batch first.
    var o: array<u32, 5>;
    var rem = i;
    for (var d = rank; d > 0u; d--) {
        let size = at(p.dims, d - 1u);
        o[d - 1u] = rem % size;
        rem /= size;
    }
    var acc = -bitcast<f32>(0x7f800000u);
    if (p.u.w == 1u) {
        acc = 0.0;
    }
    var count = 0u;
    for (var w = 0u; w < p.u.z; w++) {
        var off = o[0] * at(p.s0, 0u);
        var wrem = w;
        var inside = true;
        for (var a = rank - 1u; a > 0u; a--) {
            let s = a - 1u;
            let size = at(p.s1, s);
            let k = wrem % size;
            wrem /= size;
            let src = i32(o[a] * at(p.s1, 4u + s) + k) - i32(at(p.s2, s));
            if (src < 0 || src >= i32(at(p.s2, 4u + s))) {
                inside = false;
            } else {
                off += u32(src) * at(p.s0, a);
            }
        }
        if (inside) {
            let v = cp_src[off];
            if (p.u.w == 1u) {
                acc += v;
            } else {
                acc = max_nan(acc, v);
            }
            count += 1u;
        }
    }
    if (p.u.w == 1u) {
        acc /= f32(max(count, 1u));
    }
    cp_dst[i] = acc;
}
