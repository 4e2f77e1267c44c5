// Recurrent layers, one dispatch per step (two for a GRU without reset_after): one invocation
// per (sample, unit) computes its gates from the step's input and the previous state,
//   z_g = bias_g + x_t · kernel[:, g·units + j] + h · recurrent_kernel[:, g·units + j],
// and the cell's update (SimpleRNN, LSTM, GRU; see src/ops/recurrent/mod.rs for the formulas).
//
// State (one slot): h twice (steps alternate which half they read), then c, then the GRU's
// reset gates; every step but the first reads the state the previous one wrote.
//
// With `masked`, a padded step (mask 0) keeps the state and outputs the previous h (0 with
// `zero_output`), as Keras does. An initial state is copied into the state before the first
// step, which then reads it. `emit` 1 or 2 writes the final h or c instead of the output.
//
// Bindings: 0 RecurrentParams, 1 x [batch, steps, features], 2 kernel, 3 recurrent kernel,
// 4 bias ([gates·units], or [2, 3·units] for a GRU with reset_after), 5 state, 6 dst, 7 mask
// [batch, steps] (a placeholder when unmasked).

@group(0) @binding(0) var<uniform> rn: RecurrentParams;
@group(0) @binding(1) var<storage, read> rn_x: array<f32>;
@group(0) @binding(2) var<storage, read> rn_kernel: array<f32>;
@group(0) @binding(3) var<storage, read> rn_recurrent: array<f32>;
@group(0) @binding(4) var<storage, read> rn_bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> rn_state: array<f32>;
@group(0) @binding(6) var<storage, read_write> rn_dst: array<f32>;
@group(0) @binding(7) var<storage, read> rn_mask: array<f32>;

const CELL_SIMPLE: u32 = 0u;
const CELL_LSTM: u32 = 1u;
const CELL_GRU_AFTER: u32 = 2u;
const CELL_GRU_BEFORE: u32 = 3u;

// Previous h[b, k] (0 before the first step).
fn rn_h(b: u32, k: u32) -> f32 {
    if (rn.first == 1u) {
        return 0.0;
    }
    return rn_state[rn.read_half * rn.n + b * rn.units + k];
}

// x_t · kernel[:, col] plus the input bias of col.
fn rn_input(b: u32, col: u32) -> f32 {
    let width = rn.gates * rn.units;
    var sum = 0.0;
    if (rn.has_bias == 1u) {
        sum = rn_bias[col];
    }
    let row = (b * rn.steps + rn.t) * rn.features;
    for (var f = 0u; f < rn.features; f++) {
        sum += rn_x[row + f] * rn_kernel[f * width + col];
    }
    return sum;
}

// h · recurrent_kernel[:, col], each h[k] times reset[k] where `reset` (the GRU without
// reset_after), plus the GRU's recurrent bias of col (reset_after).
fn rn_recur(b: u32, col: u32, reset: bool) -> f32 {
    let width = rn.gates * rn.units;
    var sum = 0.0;
    if (rn.has_bias == 1u && rn.cell == CELL_GRU_AFTER) {
        sum = rn_bias[width + col];
    }
    for (var k = 0u; k < rn.units; k++) {
        var h = rn_h(b, k);
        if (reset) {
            h *= rn_state[3u * rn.n + b * rn.units + k];
        }
        sum += h * rn_recurrent[k * width + col];
    }
    return sum;
}

fn rn_act(x: f32) -> f32 {
    return act_apply(rn.act_code, x, rn.act);
}

fn rn_gate(x: f32) -> f32 {
    return act_apply(rn.rec_code, x, rn.rec);
}

@compute @workgroup_size(WG)
fn recurrent_step(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= rn.n) {
        return;
    }
    let u = rn.units;
    let b = i / u;
    let j = i % u;
    if (rn.phase == 0u) {
        // The GRU without reset_after: every unit's reset gate first.
        rn_state[3u * rn.n + i] = rn_gate(rn_input(b, u + j) + rn_recur(b, u + j, false));
        return;
    }
    let h_prev = rn_h(b, j);
    var c_prev = 0.0;
    if (rn.first == 0u) {
        c_prev = rn_state[2u * rn.n + i];
    }
    var h = 0.0;
    switch rn.cell {
        case CELL_SIMPLE: {
            h = rn_act(rn_input(b, j) + rn_recur(b, j, false));
        }
        case CELL_LSTM: {
            var z: vec4<f32>;
            for (var g = 0u; g < 4u; g++) {
                z[g] = rn_input(b, g * u + j) + rn_recur(b, g * u + j, false);
            }
            let ch = lstm_cell(z, c_prev, rn.act_code, rn.act, rn.rec_code, rn.rec);
            rn_state[2u * rn.n + i] = ch.x;
            h = ch.y;
        }
        case CELL_GRU_AFTER: {
            let z = rn_gate(rn_input(b, j) + rn_recur(b, j, false));
            let r = rn_gate(rn_input(b, u + j) + rn_recur(b, u + j, false));
            let hh = rn_act(rn_input(b, 2u * u + j) + r * rn_recur(b, 2u * u + j, false));
            h = z * h_prev + (1.0 - z) * hh;
        }
        default: {
            let z = rn_gate(rn_input(b, j) + rn_recur(b, j, false));
            let hh = rn_act(rn_input(b, 2u * u + j) + rn_recur(b, 2u * u + j, true));
            h = z * h_prev + (1.0 - z) * hh;
        }
    }
    var out = h;
    // Always read, so that the binding stays in the kernel's layout.
    let real = rn_mask[select(0u, b * rn.steps + rn.t, rn.masked == 1u)] != 0.0;
    if (rn.masked == 1u && !real) {
        h = h_prev;
        rn_state[2u * rn.n + i] = c_prev;
        out = select(h_prev, 0.0, rn.zero_output == 1u);
    }
    rn_state[(1u - rn.read_half) * rn.n + i] = h;
    if (rn.sequences == 1u) {
        rn_dst[(b * rn.steps + rn.out_step) * u + j] = out;
    } else if (rn.s + 1u == rn.steps) {
        // The layer's output, or (return_state) its final h or c.
        if (rn.emit == 1u) {
            out = h;
        } else if (rn.emit == 2u) {
            out = rn_state[2u * rn.n + i];
        }
        rn_dst[i] = out;
    }
}
