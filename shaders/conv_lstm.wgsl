// ConvLSTM layers, one dispatch per step (the input convolution of every step runs before,
// as a plain convolution with the layer's bias): one invocation per state value (sample,
// position, unit) adds to that step's four gate inputs the recurrent convolution of the
// previous h over its window ('same' padding, stride 1),
//   z_g = x_t[pos, g·units + j] + Σ_taps,k h[pos + tap − pad, k] · recurrent_kernel[tap, k, g·units + j],
// then updates the cell as the LSTM does: c = σ(f)·c + σ(i)·act(c̃), h = σ(o)·act(c).
//
// State (one slot): h twice (steps alternate which half they read), then c; each an image of
// `units` channels in the layer's data format, as the layer's output. An initial state is
// copied into the state before the first step, which then reads it. `emit` 2 writes the
// final c instead of h.
//
// Bindings: 0 ConvLstmParams, 1 the input convolution [batch, steps, positions × 4·units],
// 2 recurrent kernel [window…, units, 4·units], 3 state, 4 dst.

@group(0) @binding(0) var<uniform> cl: ConvLstmParams;
@group(0) @binding(1) var<storage, read> cl_x: array<f32>;
@group(0) @binding(2) var<storage, read> cl_recurrent: array<f32>;
@group(0) @binding(3) var<storage, read_write> cl_state: array<f32>;
@group(0) @binding(4) var<storage, read_write> cl_dst: array<f32>;

// The offset of channel `ch` at position `pos` in an image of `channels` channels.
fn cl_at(pos: u32, ch: u32, channels: u32) -> u32 {
    if (cl.channels_first == 1u) {
        return ch * cl.positions + pos;
    }
    return pos * channels + ch;
}

// The gates i, f, c̃, o of unit j at position pos of sample b, before their activations.
fn cl_gates(b: u32, pos: u32, j: u32) -> vec4<f32> {
    let u = cl.units;
    let width = 4u * u;
    let x = (b * cl.steps + cl.t) * cl.positions * width;
    var z = vec4<f32>(
        cl_x[x + cl_at(pos, j, width)],
        cl_x[x + cl_at(pos, u + j, width)],
        cl_x[x + cl_at(pos, 2u * u + j, width)],
        cl_x[x + cl_at(pos, 3u * u + j, width)],
    );
    if (cl.first == 1u) {
        return z;
    }
    var o: array<u32, 3>;
    var rem = pos;
    var taps = 1u;
    for (var a = cl.spatial; a > 0u; a--) {
        o[a - 1u] = rem % cl.sizes[a - 1u];
        rem /= cl.sizes[a - 1u];
        taps *= cl.window[a - 1u];
    }
    let h = cl.read_half * cl.n + b * cl.positions * u;
    for (var t = 0u; t < taps; t++) {
        // The tap's offsets, then the position it reads (none in the padding).
        var k: array<u32, 3>;
        var trem = t;
        for (var a = cl.spatial; a > 0u; a--) {
            k[a - 1u] = trem % cl.window[a - 1u];
            trem /= cl.window[a - 1u];
        }
        var src = 0u;
        var inside = true;
        for (var a = 0u; a < cl.spatial; a++) {
            let p = i32(o[a] + k[a]) - i32(cl.pad_before[a]);
            inside = inside && p >= 0 && p < i32(cl.sizes[a]);
            src = src * cl.sizes[a] + u32(max(p, 0));
        }
        if (!inside) {
            continue;
        }
        for (var ch = 0u; ch < u; ch++) {
            let hv = cl_state[h + cl_at(src, ch, u)];
            let row = (t * u + ch) * width + j;
            z += hv * vec4<f32>(
                cl_recurrent[row],
                cl_recurrent[row + u],
                cl_recurrent[row + 2u * u],
                cl_recurrent[row + 3u * u],
            );
        }
    }
    return z;
}

@compute @workgroup_size(WG)
fn conv_lstm_step(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= cl.n) {
        return;
    }
    let u = cl.units;
    let per_sample = cl.positions * u;
    let b = i / per_sample;
    let in_sample = i % per_sample;
    var pos = in_sample / u;
    var j = in_sample % u;
    if (cl.channels_first == 1u) {
        pos = in_sample % cl.positions;
        j = in_sample / cl.positions;
    }
    let z = cl_gates(b, pos, j);
    var c_prev = 0.0;
    if (cl.first == 0u) {
        c_prev = cl_state[2u * cl.n + i];
    }
    let ch = lstm_cell(z, c_prev, cl.act_code, cl.act, cl.rec_code, cl.rec);
    let c = ch.x;
    let h = ch.y;
    cl_state[2u * cl.n + i] = c;
    cl_state[(1u - cl.read_half) * cl.n + i] = h;
    if (cl.sequences == 1u) {
        cl_dst[(b * cl.steps + cl.s) * per_sample + in_sample] = h;
    } else if (cl.s + 1u == cl.steps) {
        cl_dst[i] = select(h, c, cl.emit == 2u);
    }
}
