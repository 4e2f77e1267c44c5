// Convolution, direct: one invocation per output value sums its receptive field over the input
// channels of its fo's group, adds the bias and applies the fused activation (ACT).
//
// Bindings: 1 src, 2 kernel [taps…, channels / groups, filters], 3 bias, 4 dst.
// Params: u = (n, spatial rank (1..3), channels per group, filters), v = (groups, 1 if channels
// first, 1 if bias, -), f = activation parameters, dims = output dims (batch included),
// s0 = source strides (batch included); per spatial axis a: s1[a] window, s1[3 + a] stride,
// s2[a] dilation, s2[3 + a] rows padded before, and the source's spatial sizes in
// s1[6], s1[7], s2[6].

@group(0) @binding(1) var<storage, read> cv_src: array<f32>;
@group(0) @binding(2) var<storage, read> cv_kernel: array<f32>;
@group(0) @binding(3) var<storage, read> cv_bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> cv_dst: array<f32>;

fn cv_input_size(a: u32) -> u32 {
    if (a < 2u) {
        return at(p.s1, 6u + a);
    }
    return at(p.s2, 6u);
}

@compute @workgroup_size(WG)
fn conv(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= p.u.x) {
        return;
    }
    let spatial = p.u.y;
    let group_channels = p.u.z;
    let filters = p.u.w;
    let first = p.v.y == 1u;
    // The output value's sample, fo and spatial position.
    var o: array<u32, 3>;
    var rem = i;
    var fo = 0u;
    if (!first) {
        fo = rem % filters;
        rem /= filters;
    }
    for (var a = spatial; a > 0u; a--) {
        let size = at(p.dims, select(a, a + 1u, first));
        o[a - 1u] = rem % size;
        rem /= size;
    }
    if (first) {
        fo = rem % filters;
        rem /= filters;
    }
    let sample = rem;
    let channel0 = (fo / (filters / p.v.x)) * group_channels;
    // Source strides of the channel axis and of spatial axis a.
    let channel_axis = select(spatial + 1u, 1u, first);
    let spatial0 = select(1u, 2u, first);
    var taps = 1u;
    for (var a = 0u; a < spatial; a++) {
        taps *= at(p.s1, a);
    }
    var acc = 0.0;
    for (var t = 0u; t < taps; t++) {
        var trem = t;
        var off = sample * at(p.s0, 0u);
        var inside = true;
        for (var a = spatial; a > 0u; a--) {
            let ax = a - 1u;
            let size = at(p.s1, ax);
            let k = trem % size;
            trem /= size;
            let src = i32(o[ax] * at(p.s1, 3u + ax) + k * at(p.s2, ax)) - i32(at(p.s2, 3u + ax));
            if (src < 0 || src >= i32(cv_input_size(ax))) {
                inside = false;
            } else {
                off += u32(src) * at(p.s0, spatial0 + ax);
            }
        }
        if (inside) {
            let cstride = at(p.s0, channel_axis);
            let wbase = t * group_channels * filters + fo;
            for (var c = 0u; c < group_channels; c++) {
                acc += cv_src[off + (channel0 + c) * cstride] * cv_kernel[wbase + c * filters];
            }
        }
    }
    if (p.v.z == 1u) {
        acc += cv_bias[fo];
    }
    cv_dst[i] = activate(acc, p.f);
}
