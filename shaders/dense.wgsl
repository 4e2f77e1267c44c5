// Dense layers: C[m, n0 + n] = act(sum_k A[m, k] * B[k, n] + bias[n0 + n]).
//
// `gemm_tiled` is the kernel for hardware GPUs: a workgroup computes a (4 GY) x (4 GX) tile of C
// from tiles of A and B staged in workgroup memory, each invocation a 4 x 4 register block.
// Software adapters use the texture kernels of gemm_soft*.wgsl instead, fed by `pack_a`.

// ---- gemm_tiled ----
// Bindings: 0 GemmTiledParams, 1 A [M, K], 2 B [K, N] (row-major), 3 bias [N] (or a dummy),
// 4 C (row stride ldc). Grid: x over column tiles, (y, z) over row tiles.

@group(0) @binding(0) var<uniform> gtp: GemmTiledParams;

@group(0) @binding(1) var<storage, read> ga: array<f32>;
@group(0) @binding(2) var<storage, read> gb: array<f32>;
@group(0) @binding(3) var<storage, read> gbias: array<f32>;
@group(0) @binding(4) var<storage, read_write> gc: array<f32>;

override GX: u32 = 16u;
override GY: u32 = 16u;
override TK: u32 = 16u;

var<workgroup> tile_a: array<f32, GY * 4u * TK>;
var<workgroup> tile_b: array<f32, TK * GX * 4u>;

@compute @workgroup_size(GX, GY)
fn gemm_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let m = gtp.m;
    let n = gtp.n;
    let k = gtp.k;
    let bm = GY * 4u;
    let bn = GX * 4u;
    let row0 = (wid.z * nwg.y + wid.y) * bm;
    let col0 = wid.x * bn;
    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }
    for (var k0 = 0u; k0 < k; k0 += TK) {
        for (var i = li; i < bm * TK; i += GX * GY) {
            let r = row0 + i / TK;
            let kk = k0 + i % TK;
            var v = 0.0;
            if (r < m && kk < k) {
                v = ga[r * k + kk];
            }
            tile_a[i] = v;
        }
        for (var i = li; i < TK * bn; i += GX * GY) {
            let kk = k0 + i / bn;
            let cc = col0 + i % bn;
            var v = 0.0;
            if (kk < k && cc < n) {
                v = gb[kk * n + cc];
            }
            tile_b[i] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = tile_a[(lid.y * 4u + i) * TK + kk];
                b[i] = tile_b[kk * bn + lid.x * 4u + i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    let n0 = gtp.n0;
    let ldc = gtp.ldc;
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let cc = col0 + lid.x * 4u + j;
            if (r < m && cc < n) {
                var v = acc[i * 4u + j];
                if (gtp.has_bias != 0u) {
                    v += gbias[n0 + cc];
                }
                gc[r * ldc + n0 + cc] = activate(v, gtp.act);
            }
        }
    }
}

// ---- pack_a ----
// Copies A [M, K] (row-major buffer) into the rgba32float array texture the software GEMM reads:
// texel (q, r % HA, layer r / HA) = A[r, 4q..4q+3], zero past K. One invocation per texel.
// Bindings: 0 PackAParams, 1 A, 2 the texture.

@group(0) @binding(0) var<uniform> pap: PackAParams;

@group(0) @binding(1) var<storage, read> pa_src: array<f32>;
@group(0) @binding(2) var pa_dst: texture_storage_2d_array<rgba32float, write>;

@compute @workgroup_size(WG)
fn pack_a(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let t = flat_id(wid, nwg, li);
    let k = pap.k;
    let k4 = pap.k4;
    if (t >= pap.m * k4) {
        return;
    }
    let r = t / k4;
    let q = t % k4;
    var v = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (q * 4u + e < k) {
            v[e] = pa_src[r * k + q * 4u + e];
        }
    }
    textureStore(pa_dst, vec2<u32>(q, r % pap.rows_per_layer), r / pap.rows_per_layer, v);
}
