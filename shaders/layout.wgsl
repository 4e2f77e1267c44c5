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
