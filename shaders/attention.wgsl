// Attention (src/ops/attention): one invocation per (sample, head, query step) row. Its scores
// are computed three times over, for the max, the sum and the weighted values, rather than
// kept in a row of unknown length.
// Bindings: 0 AttentionParams, 1 query [b, tq, heads·dk], 2 key [b, tk, heads·dk],
// 3 value [b, tk, heads·dv], 4 AdditiveAttention's scale [heads·dk], 5 query mask [b, tq],
// 6 key-step mask [b, tk], 7 attention mask [b, tq, tk], 8 dst [b, tq, heads·dv] (or, with
// `emit_scores`, the weights [b, heads, tq, tk]).

@group(0) @binding(0) var<uniform> at_p: AttentionParams;
@group(0) @binding(1) var<storage, read> at_q: array<f32>;
@group(0) @binding(2) var<storage, read> at_k: array<f32>;
@group(0) @binding(3) var<storage, read> at_v: array<f32>;
@group(0) @binding(4) var<storage, read> at_scale: array<f32>;
@group(0) @binding(5) var<storage, read> at_qm: array<f32>;
@group(0) @binding(6) var<storage, read> at_km: array<f32>;
@group(0) @binding(7) var<storage, read> at_am: array<f32>;
@group(0) @binding(8) var<storage, read_write> at_dst: array<f32>;

// The raw score of query step t and key step s of sample b, head h.
fn at_raw(b: u32, h: u32, t: u32, s: u32) -> f32 {
    let width = at_p.heads * at_p.dk;
    let q0 = (b * at_p.tq + t) * width + h * at_p.dk;
    let k0 = (b * at_p.tk + s) * width + h * at_p.dk;
    var acc = 0.0;
    for (var d = 0u; d < at_p.dk; d++) {
        let q = at_q[q0 + d];
        let k = at_k[k0 + d];
        if (at_p.score == 0u) {
            var qs = q;
            if (at_p.const_on_query == 1u) {
                qs = q * at_p.const_scale;
            }
            acc += qs * k;
        } else if (at_p.score == 1u) {
            var x = q + k;
            if (at_p.scaled == 1u) {
                x = at_p.w_scale * x;
            }
            acc += tanh_acc(x);
        } else {
            let t = tanh_acc(q + k);
            if (at_p.scaled == 1u) {
                acc += at_scale[h * at_p.dk + d] * t;
            } else {
                acc += t;
            }
        }
    }
    if (at_p.score == 0u) {
        if (at_p.has_const == 1u && at_p.const_on_query == 0u) {
            acc = acc * at_p.const_scale;
        }
        if (at_p.scaled == 1u) {
            acc = acc * at_p.w_scale;
        }
    } else if (at_p.score == 1u) {
        acc = at_p.w_concat * acc;
    }
    return acc;
}

// Keras casts a mask to bool: anything but 0 is real.
fn at_real(m: f32) -> bool {
    return m != 0.0 || is_nan_f32(m);
}

fn at_seen(b: u32, t: u32, s: u32) -> bool {
    if (at_p.causal == 1u && s > t) {
        return false;
    }
    if (at_p.query_mode == 0u && at_p.has_qm == 1u && !at_real(at_qm[b * at_p.tq + t])) {
        return false;
    }
    if (at_p.has_km == 1u && !at_real(at_km[b * at_p.tk + s])) {
        return false;
    }
    if (at_p.has_am == 1u && !at_real(at_am[(b * at_p.tq + t) * at_p.tk + s])) {
        return false;
    }
    return true;
}

fn at_score(b: u32, h: u32, t: u32, s: u32) -> f32 {
    let x = at_raw(b, h, t, s);
    if (at_seen(b, t, s)) {
        return x;
    }
    if (at_p.fill_add == 1u) {
        return x + at_p.fill;
    }
    return at_p.fill;
}

@compute @workgroup_size(WG)
fn attention(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= at_p.n) {
        return;
    }
    let t = i % at_p.tq;
    let h = (i / at_p.tq) % at_p.heads;
    let b = i / (at_p.tq * at_p.heads);
    var m = at_score(b, h, t, 0u);
    for (var s = 1u; s < at_p.tk; s++) {
        m = max_nan(m, at_score(b, h, t, s));
    }
    var sum = 0.0;
    for (var s = 0u; s < at_p.tk; s++) {
        sum += exp(at_score(b, h, t, s) - m);
    }
    let o0 = (b * at_p.tq + t) * at_p.heads * at_p.dv + h * at_p.dv;
    if (at_p.emit_scores == 0u) {
        for (var e = 0u; e < at_p.dv; e++) {
            at_dst[o0 + e] = 0.0;
        }
    }
    for (var s = 0u; s < at_p.tk; s++) {
        var w = exp(at_score(b, h, t, s) - m) / sum;
        if (at_p.zero_masked == 1u && !at_seen(b, t, s)) {
            w = 0.0;
        }
        if (at_p.emit_scores == 1u) {
            at_dst[((b * at_p.heads + h) * at_p.tq + t) * at_p.tk + s] = w;
            continue;
        }
        let v0 = (b * at_p.tk + s) * at_p.heads * at_p.dv + h * at_p.dv;
        for (var e = 0u; e < at_p.dv; e++) {
            at_dst[o0 + e] += w * at_v[v0 + e];
        }
    }
    if (at_p.emit_scores == 0u && at_p.has_qm == 1u && at_p.query_mode != 0u) {
        let qm = at_qm[b * at_p.tq + t];
        for (var e = 0u; e < at_p.dv; e++) {
            if (at_p.query_mode == 2u) {
                at_dst[o0 + e] = at_dst[o0 + e] * qm;
            } else if (!at_real(qm)) {
                at_dst[o0 + e] = 0.0;
            }
        }
    }
}
