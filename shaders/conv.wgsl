// Convolution, direct: one invocation per output value sums its receptive field over the input
// channels of its fo's group, adds the bias and applies the fused activation (ACT).
//
// Bindings: 0 ConvParams, 1 src, 2 kernel [taps…, channels / groups, filters], 3 bias, 4 dst.

@group(0) @binding(0) var<uniform> cv: ConvParams;
@group(0) @binding(1) var<storage, read> cv_src: array<f32>;
@group(0) @binding(2) var<storage, read> cv_kernel: array<f32>;
@group(0) @binding(3) var<storage, read> cv_bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> cv_dst: array<f32>;

// Where output value i lies: its sample, filter and spatial position.
struct CvOutput {
    sample: u32,
    fo: u32,
    o: array<u32, 3>,
}

fn cv_output(i: u32) -> CvOutput {
    let first = cv.channels_first == 1u;
    var out: CvOutput;
    var rem = i;
    if (!first) {
        out.fo = rem % cv.filters;
        rem /= cv.filters;
    }
    for (var a = cv.spatial; a > 0u; a--) {
        let size = at(cv.dims, select(a, a + 1u, first));
        out.o[a - 1u] = rem % size;
        rem /= size;
    }
    if (first) {
        out.fo = rem % cv.filters;
        rem /= cv.filters;
    }
    out.sample = rem;
    return out;
}

@compute @workgroup_size(WG)
fn conv(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= cv.n) {
        return;
    }
    let spatial = cv.spatial;
    let group_channels = cv.group_channels;
    let filters = cv.filters;
    let first = cv.channels_first == 1u;
    let at_i = cv_output(i);
    var o = at_i.o;
    let fo = at_i.fo;
    let sample = at_i.sample;
    let channel0 = (fo / (filters / cv.groups)) * group_channels;
    // Source strides of the channel axis and of spatial axis a.
    let channel_axis = select(spatial + 1u, 1u, first);
    let spatial0 = select(1u, 2u, first);
    var taps = 1u;
    for (var a = 0u; a < spatial; a++) {
        taps *= cv.window[a];
    }
    var acc = 0.0;
    for (var t = 0u; t < taps; t++) {
        var trem = t;
        var off = sample * at(cv.src_strides, 0u);
        var inside = true;
        for (var a = spatial; a > 0u; a--) {
            let ax = a - 1u;
            let size = cv.window[ax];
            let k = trem % size;
            trem /= size;
            let src = i32(o[ax] * cv.strides[ax] + k * cv.dilation[ax]) - i32(cv.pad_before[ax]);
            if (src < 0 || src >= i32(cv.src_sizes[ax])) {
                inside = false;
            } else {
                off += u32(src) * at(cv.src_strides, spatial0 + ax);
            }
        }
        if (inside) {
            let cstride = at(cv.src_strides, channel_axis);
            let wbase = t * group_channels * filters + fo;
            for (var c = 0u; c < group_channels; c++) {
                acc += cv_src[off + (channel0 + c) * cstride] * cv_kernel[wbase + c * filters];
            }
        }
    }
    if (cv.has_bias == 1u) {
        acc += cv_bias[fo];
    }
    cv_dst[i] = activate(acc, cv.act);
}

// ---- conv_gemm: a channels-last, ungrouped convolution as an implicit GEMM ----
// C[r, f] = act(sum_k A[r, k] kernel[k, f] + bias[f]) over output positions r (sample, then
// spatial, row-major) and k = tap · channels + channel, where A[r, k] is the input value that
// tap reads at r (0 in the padding), gathered straight into workgroup memory: no im2col
// buffer. The tiling is dense.wgsl's gemm_tiled: a (4·CG) × (4·CG) tile of C per workgroup,
// a 4 × 4 register block per invocation. Bindings as for conv; grid: x over filter tiles,
// (y, z) over row tiles.

override CG: u32 = 16u;
override CTK: u32 = 16u;

var<workgroup> cg_a: array<f32, CG * 4u * CTK>;
var<workgroup> cg_b: array<f32, CTK * CG * 4u>;

// The input index A[r, kk] reads, or -1 where the tap falls in the padding.
fn cg_source(r: u32, kk: u32) -> i32 {
    let channels = cv.group_channels;
    var tap = kk / channels;
    var rem = r;
    var off = kk % channels;
    for (var a = cv.spatial; a > 0u; a--) {
        let ax = a - 1u;
        let size = at(cv.dims, a);
        let o = rem % size;
        rem /= size;
        let k = tap % cv.window[ax];
        tap /= cv.window[ax];
        let src = i32(o * cv.strides[ax] + k * cv.dilation[ax]) - i32(cv.pad_before[ax]);
        if (src < 0 || src >= i32(cv.src_sizes[ax])) {
            return -1;
        }
        off += u32(src) * at(cv.src_strides, a);
    }
    return i32(off + rem * at(cv.src_strides, 0u));
}

@compute @workgroup_size(CG, CG)
fn conv_gemm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let n = cv.filters;
    let m = cv.n / n;
    var taps = 1u;
    for (var a = 0u; a < cv.spatial; a++) {
        taps *= cv.window[a];
    }
    let k = taps * cv.group_channels;
    let bm = CG * 4u;
    let bn = CG * 4u;
    let row0 = (wid.z * nwg.y + wid.y) * bm;
    let col0 = wid.x * bn;
    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }
    for (var k0 = 0u; k0 < k; k0 += CTK) {
        for (var i = li; i < bm * CTK; i += CG * CG) {
            let r = row0 + i / CTK;
            let kk = k0 + i % CTK;
            var v = 0.0;
            if (r < m && kk < k) {
                let src = cg_source(r, kk);
                if (src >= 0) {
                    v = cv_src[u32(src)];
                }
            }
            cg_a[i] = v;
        }
        for (var i = li; i < CTK * bn; i += CG * CG) {
            let kk = k0 + i / bn;
            let cc = col0 + i % bn;
            var v = 0.0;
            if (kk < k && cc < n) {
                v = cv_kernel[kk * n + cc];
            }
            cg_b[i] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < CTK; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = cg_a[(lid.y * 4u + i) * CTK + kk];
                b[i] = cg_b[kk * bn + lid.x * 4u + i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let cc = col0 + lid.x * 4u + j;
            if (r < m && cc < n) {
                var v = acc[i * 4u + j];
                if (cv.has_bias == 1u) {
                    v += cv_bias[cc];
                }
                cv_dst[r * n + cc] = activate(v, cv.act);
            }
        }
    }
}

// ---- conv_transpose: each output value gathers, per tap, the input row that spreads onto it
// (output = input · stride + tap · dilation − pad_before), over all channels ----
// Bindings as for conv; kernel [taps…, filters, channels]; `groups` is 1.

@compute @workgroup_size(WG)
fn conv_transpose(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= cv.n) {
        return;
    }
    let spatial = cv.spatial;
    let channels = cv.group_channels;
    let filters = cv.filters;
    let first = cv.channels_first == 1u;
    let at_i = cv_output(i);
    var o = at_i.o;
    let fo = at_i.fo;
    let sample = at_i.sample;
    let channel_axis = select(spatial + 1u, 1u, first);
    let spatial0 = select(1u, 2u, first);
    var taps = 1u;
    for (var a = 0u; a < spatial; a++) {
        taps *= cv.window[a];
    }
    var acc = 0.0;
    for (var t = 0u; t < taps; t++) {
        var trem = t;
        var off = sample * at(cv.src_strides, 0u);
        var inside = true;
        for (var a = spatial; a > 0u; a--) {
            let ax = a - 1u;
            let size = cv.window[ax];
            let k = trem % size;
            trem /= size;
            let spread = i32(o[ax] + cv.pad_before[ax]) - i32(k * cv.dilation[ax]);
            let stride = i32(cv.strides[ax]);
            if (spread < 0 || spread % stride != 0 || spread / stride >= i32(cv.src_sizes[ax])) {
                inside = false;
            } else {
                off += u32(spread / stride) * at(cv.src_strides, spatial0 + ax);
            }
        }
        if (inside) {
            let cstride = at(cv.src_strides, channel_axis);
            let wbase = (t * filters + fo) * channels;
            for (var c = 0u; c < channels; c++) {
                acc += cv_src[off + c * cstride] * cv_kernel[wbase + c];
            }
        }
    }
    if (cv.has_bias == 1u) {
        acc += cv_bias[fo];
    }
    cv_dst[i] = activate(acc, cv.act);
}
