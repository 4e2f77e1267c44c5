// Sequence inputs and their masks (src/ops/sequence): embedding lookups, the masks of the real
// steps (1.0) and padding (0.0), the Masking layer, and the mean over the real steps.

// ---- embedding: dst[i] = table[trunc(id), i % width] for id = ids[i / width]; NaN for an id
// outside the table ----
// Bindings: 0 SequenceParams, 1 ids, 2 table [rows, width], 3 dst.

@group(0) @binding(0) var<uniform> sq: SequenceParams;
@group(0) @binding(1) var<storage, read> sq_src: array<f32>;
@group(0) @binding(2) var<storage, read> sq_aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> sq_dst: array<f32>;

@compute @workgroup_size(WG)
fn embedding(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= sq.n) {
        return;
    }
    let id = trunc(sq_src[i / sq.width]);
    // NaN fails both comparisons.
    if (id >= 0.0 && id < f32(sq.rows)) {
        sq_dst[i] = sq_aux[u32(id) * sq.width + i % sq.width];
    } else {
        sq_dst[i] = nan_f32();
    }
}

// Whether step `step` is real: (kind 0) its value is not `value`, or (kind 1) any of its
// `width` features is not (NaN differs from everything).
fn sq_real(step: u32) -> bool {
    if (sq.kind == 0u) {
        let v = sq_src[step];
        return is_nan_f32(v) || v != sq.value;
    }
    for (var f = 0u; f < sq.width; f++) {
        let v = sq_src[step * sq.width + f];
        if (is_nan_f32(v) || v != sq.value) {
            return true;
        }
    }
    return false;
}

// ---- make_mask: dst[step] = 1.0 for a real step, else 0.0 ----
// Bindings: 0 SequenceParams, 1 src, 2 dst.

@group(0) @binding(2) var<storage, read_write> mk_dst: array<f32>;

@compute @workgroup_size(WG)
fn make_mask(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= sq.n) {
        return;
    }
    mk_dst[i] = select(0.0, 1.0, sq_real(i));
}

// ---- masking: dst[i] = src[i] · (its step is real), as Keras multiplies ----
// Bindings: 0 SequenceParams, 1 src, 2 dst (as make_mask); n counts values.

@compute @workgroup_size(WG)
fn masking(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= sq.n) {
        return;
    }
    mk_dst[i] = sq_src[i] * select(0.0, 1.0, sq_real(i / sq.width));
}

// ---- masked_mean: dst[b, f] = Σ_t x[b, t, f]·m[b, t] / Σ_t m[b, t] ----
// Bindings: 0 SequenceParams, 1 x [batch, steps, width], 2 mask [batch, steps], 3 dst.

@compute @workgroup_size(WG)
fn masked_mean(FLAT_INVOCATION) {
    let i = FLAT_ID;
    if (i >= sq.n) {
        return;
    }
    let b = i / sq.width;
    let f = i % sq.width;
    var sum = 0.0;
    var count = 0.0;
    for (var t = 0u; t < sq.steps; t++) {
        let m = sq_aux[b * sq.steps + t];
        sum += sq_src[(b * sq.steps + t) * sq.width + f] * m;
        count += m;
    }
    sq_dst[i] = sum / count;
}
