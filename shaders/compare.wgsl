// Difference metrics of two tensors that stay on the GPU (src/exec/gpu/reduce.rs): each
// workgroup reduces a grid-strided share of the elements to one 40-word record, so only the
// records are read back, never the tensors.
//
// compare (CompareParams): `conv` is the converted model's tensor (a), `orig` the original's (b);
// the max_rel floor is max(atol, smallest normal).
// The rule is src/compare.rs's: |a − b| ≤ atol + rtol·|b|; NaN matches only NaN and an infinity
// only the same infinity. Float32 decides a pass, a histogram bin or the absence of overflow
// exactly except within a hair (2^-20, relative) of a threshold; such elements are counted as
// `unsure`, and the host measures that tensor again in float64.
//
// top1 (Top1Params): counts the rows whose argmax agrees into record word 0.

@group(0) @binding(0) var<uniform> cmp: CompareParams;
@group(0) @binding(0) var<uniform> t1p: Top1Params;
@group(0) @binding(1) var<storage, read> conv: array<f32>;
@group(0) @binding(2) var<storage, read> orig: array<f32>;
@group(0) @binding(3) var<storage, read_write> records: array<atomic<u32>>;

const CWG: u32 = 256u;
const NONE: u32 = 0xffffffffu;
const HAIR: f32 = 9.5367431640625e-7; // 2^-20
// Lower edges of the decade bins of src/compare.rs's Histogram.
const EDGES = array<f32, 13>(1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0);

// Record words.
const R_FINITE: u32 = 0u;
const R_MISMATCH: u32 = 1u;
const R_NAN: u32 = 2u;
const R_INF: u32 = 3u;
const R_UNSURE: u32 = 4u;
const R_NF_INDEX: u32 = 5u;
const R_WORST_INDEX: u32 = 6u;
const R_SUM: u32 = 8u;
const R_MAX_ABS: u32 = 9u;
const R_WORST_A: u32 = 10u;
const R_WORST_B: u32 = 11u;
const R_MAX_REL: u32 = 12u;
const R_MIN_ATOL: u32 = 13u;
const R_NF_A: u32 = 14u;
const R_NF_B: u32 = 15u;
const R_HIST: u32 = 16u;
const R_SUM_B2: u32 = 32u;
const R_SUM_D2: u32 = 33u;
const RECORD: u32 = 40u;

var<workgroup> counts: array<atomic<u32>, 21>; // finite, mismatch, nan, inf, unsure, 16 bins
var<workgroup> w_d: array<f32, CWG>;
var<workgroup> w_i: array<u32, CWG>;
var<workgroup> w_a: array<f32, CWG>;
var<workgroup> w_b: array<f32, CWG>;
var<workgroup> nf_i: array<u32, CWG>;
var<workgroup> nf_a: array<f32, CWG>;
var<workgroup> nf_b: array<f32, CWG>;
var<workgroup> w_sum: array<f32, CWG>;
var<workgroup> w_rel: array<f32, CWG>;
var<workgroup> w_atol: array<f32, CWG>;
var<workgroup> w_b2: array<f32, CWG>;
var<workgroup> w_d2: array<f32, CWG>;

fn is_nonfinite(bits: u32) -> bool {
    return (bits & 0x7f800000u) == 0x7f800000u;
}

fn is_nan(bits: u32) -> bool {
    return is_nonfinite(bits) && (bits & 0x007fffffu) != 0u;
}

fn bin_of(d: f32) -> u32 {
    if d == 0.0 {
        return 0u;
    }
    var bin = 1u;
    for (var e = 0u; e < 13u; e++) {
        if EDGES[e] <= d {
            bin += 1u;
        }
    }
    return bin;
}

// Whether float32 rounding could change the verdict or the bin of difference `d`.
fn unsure(a_bits: u32, b_bits: u32, d: f32, threshold: f32) -> bool {
    if is_nonfinite(bitcast<u32>(d)) || (a_bits != b_bits && d < 1e-30) {
        return true; // overflowed, or in the range a GPU may flush to zero
    }
    if abs(d - threshold) <= HAIR * max(d, threshold) {
        return true;
    }
    return d != 0.0 && bin_of(d * (1.0 + HAIR)) != bin_of(d * (1.0 - HAIR));
}

@compute @workgroup_size(CWG)
fn compare(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    if lid < 21u {
        atomicStore(&counts[lid], 0u);
    }
    workgroupBarrier();
    let n = cmp.n;
    let atol = cmp.atol;
    let rtol = cmp.rtol;
    let rel_floor = cmp.rel_floor;
    var best_d = -1.0;
    var best_i = NONE;
    var best_a = 0.0;
    var best_b = 0.0;
    var first_nf = NONE;
    var first_a = 0.0;
    var first_b = 0.0;
    var sum = 0.0;
    var sum_b2 = 0.0;
    var sum_d2 = 0.0;
    var max_rel = 0.0;
    var min_atol = -3.0e38;
    var finite = 0u;
    var mismatch = 0u;
    var nans = 0u;
    var infs = 0u;
    var unsures = 0u;
    for (var i = gid.x; i < n; i += groups.x * CWG) {
        let a = conv[i];
        let b = orig[i];
        let ab = bitcast<u32>(a);
        let bb = bitcast<u32>(b);
        if is_nonfinite(ab) || is_nonfinite(bb) {
            if (is_nan(ab) && is_nan(bb)) || ab == bb {
                atomicAdd(&counts[5u], 1u);
                continue;
            }
            atomicAdd(&counts[5u + 15u], 1u);
            mismatch += 1u;
            if is_nan(ab) || is_nan(bb) {
                nans += 1u;
            } else {
                infs += 1u;
            }
            if first_nf == NONE {
                first_nf = i;
                first_a = a;
                first_b = b;
            }
            continue;
        }
        let d = abs(a - b);
        let threshold = atol + rtol * abs(b);
        finite += 1u;
        sum += d;
        sum_b2 += b * b;
        sum_d2 += d * d;
        max_rel = max(max_rel, d / max(abs(b), rel_floor));
        min_atol = max(min_atol, d - rtol * abs(b));
        atomicAdd(&counts[5u + bin_of(d)], 1u);
        if d > threshold {
            mismatch += 1u;
        }
        if unsure(ab, bb, d, threshold) {
            unsures += 1u;
        }
        if d > best_d {
            best_d = d;
            best_i = i;
            best_a = a;
            best_b = b;
        }
    }
    atomicAdd(&counts[0u], finite);
    atomicAdd(&counts[1u], mismatch);
    atomicAdd(&counts[2u], nans);
    atomicAdd(&counts[3u], infs);
    atomicAdd(&counts[4u], unsures);
    w_d[lid] = best_d;
    w_i[lid] = best_i;
    w_a[lid] = best_a;
    w_b[lid] = best_b;
    nf_i[lid] = first_nf;
    nf_a[lid] = first_a;
    nf_b[lid] = first_b;
    w_sum[lid] = sum;
    w_rel[lid] = max_rel;
    w_atol[lid] = min_atol;
    w_b2[lid] = sum_b2;
    w_d2[lid] = sum_d2;
    workgroupBarrier();
    for (var half = CWG / 2u; half > 0u; half /= 2u) {
        if lid < half {
            let o = lid + half;
            // The largest difference; of equal ones, the first element.
            if w_d[o] > w_d[lid] || (w_d[o] == w_d[lid] && w_i[o] < w_i[lid]) {
                w_d[lid] = w_d[o];
                w_i[lid] = w_i[o];
                w_a[lid] = w_a[o];
                w_b[lid] = w_b[o];
            }
            if nf_i[o] < nf_i[lid] {
                nf_i[lid] = nf_i[o];
                nf_a[lid] = nf_a[o];
                nf_b[lid] = nf_b[o];
            }
            w_sum[lid] += w_sum[o];
            w_rel[lid] = max(w_rel[lid], w_rel[o]);
            w_atol[lid] = max(w_atol[lid], w_atol[o]);
            w_b2[lid] += w_b2[o];
            w_d2[lid] += w_d2[o];
        }
        workgroupBarrier();
    }
    let base = wid.x * RECORD;
    if lid < 5u {
        atomicStore(&records[base + lid], atomicLoad(&counts[lid]));
    } else if lid >= R_HIST && lid < R_HIST + 16u {
        atomicStore(&records[base + lid], atomicLoad(&counts[lid - R_HIST + 5u]));
    }
    if lid == 0u {
        atomicStore(&records[base + R_NF_INDEX], nf_i[0]);
        atomicStore(&records[base + R_WORST_INDEX], w_i[0]);
        atomicStore(&records[base + R_SUM], bitcast<u32>(w_sum[0]));
        atomicStore(&records[base + R_MAX_ABS], bitcast<u32>(max(w_d[0], 0.0)));
        atomicStore(&records[base + R_WORST_A], bitcast<u32>(w_a[0]));
        atomicStore(&records[base + R_WORST_B], bitcast<u32>(w_b[0]));
        atomicStore(&records[base + R_MAX_REL], bitcast<u32>(w_rel[0]));
        atomicStore(&records[base + R_MIN_ATOL], bitcast<u32>(w_atol[0]));
        atomicStore(&records[base + R_NF_A], bitcast<u32>(nf_a[0]));
        atomicStore(&records[base + R_NF_B], bitcast<u32>(nf_b[0]));
        atomicStore(&records[base + R_SUM_B2], bitcast<u32>(w_b2[0]));
        atomicStore(&records[base + R_SUM_D2], bitcast<u32>(w_d2[0]));
    }
}

// Element i of the converted (side 0) or the original (side 1) tensor.
fn value(side: u32, i: u32) -> f32 {
    if side == 0u {
        return conv[i];
    }
    return orig[i];
}

// The argmax of one row of one side, with src/compare.rs's rule: the first largest value, NaN
// losing to any number.
fn argmax(side: u32, start: u32, width: u32) -> u32 {
    var best = 0u;
    for (var j = 1u; j < width; j++) {
        let v = value(side, start + j);
        let w = value(side, start + best);
        if v > w || (is_nan(bitcast<u32>(w)) && !is_nan(bitcast<u32>(v))) {
            best = j;
        }
    }
    return best;
}

@compute @workgroup_size(CWG)
fn top1(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let rows = t1p.rows;
    let width = t1p.width;
    for (var r = gid.x; r < rows; r += groups.x * CWG) {
        if argmax(0u, r * width, width) == argmax(1u, r * width, width) {
            atomicAdd(&records[0], 1u);
        }
    }
}
