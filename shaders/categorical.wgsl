// Categorical preprocessing (src/ops/categorical): CategoryEncoding (kind 0), Discretization's
// buckets (kind 1) and IntegerLookup's indices (kind 2). Ids are the integer parts of the
// values. NaN ids, which no Keras integer input holds, give NaN.

// ---- categorical: one invocation per output value ----
// Bindings: 0 CategoricalParams, 1 x, 2 table (boundaries or vocabulary; unused by kind 0),
// 3 out.

@group(0) @binding(0) var<uniform> ctp: CategoricalParams;
@group(0) @binding(1) var<storage, read> ct_x: array<f32>;
@group(0) @binding(2) var<storage, read> ct_table: array<f32>;
@group(0) @binding(3) var<storage, read_write> ct_out: array<f32>;

// Output o = (row, column): how many of the row's `per_row` ids name the column (1 at most
// unless counting); NaN when one is NaN, or outside 0..tokens where that is NaN.
fn ct_encode(o: u32) -> f32 {
    let row = o / ctp.tokens;
    let column = f32(o % ctp.tokens);
    var hits = 0.0;
    for (var k = 0u; k < ctp.per_row; k++) {
        let id = trunc(ct_x[row * ctp.per_row + k]);
        let inside = id >= 0.0 && id < f32(ctp.tokens);
        if (is_nan_f32(id) || (!inside && ctp.nan_out_of_range == 1u)) {
            return nan_f32();
        }
        if (id == column) {
            hits += 1.0;
        }
    }
    if (ctp.count == 1u) {
        return hits;
    }
    return min(hits, 1.0);
}

// The boundaries at or below v; NaN past them all.
fn ct_bucket(v: f32) -> f32 {
    if (is_nan_f32(v)) {
        return f32(ctp.table_len);
    }
    var below = 0u;
    for (var k = 0u; k < ctp.table_len; k++) {
        if (ct_table[k] <= v) {
            below++;
        }
    }
    return f32(below);
}

// 0 for the mask token, floormod(id, oov) after it for ids outside the vocabulary, then the
// vocabulary's positions.
fn ct_lookup(v: f32) -> f32 {
    if (is_nan_f32(v)) {
        return v;
    }
    let id = trunc(v);
    if (ctp.has_mask == 1u && id == ctp.mask_token) {
        return 0.0;
    }
    let first = f32(ctp.has_mask);
    let oov = f32(ctp.oov_indices);
    for (var k = 0u; k < ctp.table_len; k++) {
        if (ct_table[k] == id) {
            return first + oov + f32(k);
        }
    }
    return first + (id - oov * floor(id / oov));
}

@compute @workgroup_size(WG)
fn categorical(FLAT_INVOCATION) {
    let o = FLAT_ID;
    if (o >= ctp.n) {
        return;
    }
    switch ctp.kind {
        case 0u: {
            ct_out[o] = ct_encode(o);
        }
        case 1u: {
            ct_out[o] = ct_bucket(ct_x[o]);
        }
        default: {
            ct_out[o] = ct_lookup(ct_x[o]);
        }
    }
}
