// Data movement: permute and concatenate as one strided copy. Reshape, Flatten and Identity need
// no kernel: their output aliases their input's buffer.

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
