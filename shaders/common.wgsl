// Shared prelude, prepended to every kernel file before compilation (see src/exec/gpu/kernels.rs).
//
// Every kernel reads its own parameter struct at @group(0) @binding(0) (`ConvParams` for
// `conv`, …). The structs are declared in Rust (src/exec/gpu/params.rs, where each field is
// documented) and their WGSL declarations are generated from there and placed before this
// prelude. Shapes, strides and sizes live in them, never in shader text, so one pipeline per
// kernel variant serves every shape.

// Workgroup size of the one-dimensional kernels.
override WG: u32 = 64u;

// ---- uniform windows ----
// llvmpipe loads a storage buffer one lane at a time (a loop through the stack, ~20 cycles a
// float) but loads a uniform buffer with vectorised gathers. On software adapters the kernels
// that read a contiguous input element by element (the *_window entry points) read it through
// 64 KiB uniform "windows" instead: dispatch w binds the input at byte offset w * 65536 (a
// dynamic offset) and `win` at window w's first vec4.
const WINDOW: u32 = 4096u;

struct Window {
    base: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// The activation fused into a kernel (see `act_code` in src/exec/gpu/kernels.rs):
// 0 linear, 1 relu (general), 2 sigmoid, 3 tanh, 4 elu, 5 selu, 6 softplus, 7 softsign, 8 silu,
// 9 gelu (erf), 10 gelu (tanh), 11 hard_sigmoid, 12 hard_silu, 13 exponential, 14 mish.
override ACT: u32 = 0u;

// Index of this invocation when a 1-D range is dispatched as a 3-D grid of WG-wide workgroups
// (grids are split over y and z to stay under max_compute_workgroups_per_dimension).
fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * WG + lid;
}

fn at(a: array<vec4<u32>, 2>, d: u32) -> u32 {
    return a[d >> 2u][d & 3u];
}

// Offset of the i-th element (row-major over `dims[0..rank]`) in a tensor with `strides`.
fn offset_of(i: u32, rank: u32, dims: array<vec4<u32>, 2>, strides: array<vec4<u32>, 2>) -> u32 {
    var rem = i;
    var off = 0u;
    for (var d = rank; d > 0u; d--) {
        let size = at(dims, d - 1u);
        off += (rem % size) * at(strides, d - 1u);
        rem /= size;
    }
    return off;
}

// ---- NaN and infinities, as Keras propagates them ----
// WGSL leaves min, max and clamp with a NaN operand implementation-defined, and compilers may
// fold `x != x` to false, so NaN is tested on the bits and the NaN-propagating forms below are
// used wherever a value meets max, min or clamp.

fn is_nan_f32(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// NaN, +inf or -inf.
fn is_nonfinite_f32(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) >= 0x7f800000u;
}

fn is_pos_inf_f32(x: f32) -> bool {
    return bitcast<u32>(x) == 0x7f800000u;
}

// A quiet NaN made at run time (a NaN constant expression is not valid WGSL).
var<private> NAN_BITS: u32 = 0x7fc00000u;

fn nan_f32() -> f32 {
    return bitcast<f32>(NAN_BITS);
}

// max(a, b); NaN when either is NaN.
fn max_nan(a: f32, b: f32) -> f32 {
    return select(select(max(a, b), b, is_nan_f32(b)), a, is_nan_f32(a));
}

// min(a, b); NaN when either is NaN.
fn min_nan(a: f32, b: f32) -> f32 {
    return select(select(min(a, b), b, is_nan_f32(b)), a, is_nan_f32(a));
}

// x clipped to [lo, hi] (numbers); NaN stays NaN.
fn clamp_nan(x: f32, lo: f32, hi: f32) -> f32 {
    return select(min(max(x, lo), hi), x, is_nan_f32(x));
}

// max(x, 0); NaN stays NaN.
fn relu_nan(x: f32) -> f32 {
    return select(max(x, 0.0), x, is_nan_f32(x));
}

// ---- accurate elementary functions (WGSL has no erf, expm1 or log1p) ----

// e^x − 1 without cancellation near 0 (Kahan's trick).
fn expm1_acc(x: f32) -> f32 {
    let u = exp(x);
    if (u == 1.0) {
        return x;
    }
    let um1 = u - 1.0;
    if (um1 == -1.0) {
        return -1.0;
    }
    if (abs(x) > 0.5) {
        return um1;
    }
    return um1 * x / log(u);
}

// log(1 + x) without cancellation near 0.
fn log1p_acc(x: f32) -> f32 {
    let u = 1.0 + x;
    if (u == 1.0) {
        return x;
    }
    if (abs(x) > 0.5) {
        return log(u);
    }
    return log(u) * x / (u - 1.0);
}

fn tanh_acc(x: f32) -> f32 {
    // Some drivers evaluate tanh through e^2x, which overflows; tanh(±9) is ±1 in f32.
    if (abs(x) > 9.0) {
        return sign(x);
    }
    if (abs(x) < 0.625) {
        // tanh(x) = expm1(2x) / (expm1(2x) + 2), accurate near 0.
        let e = expm1_acc(2.0 * x);
        return e / (e + 2.0);
    }
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

// erf(x), ported from FreeBSD's s_erff.c (the same algorithm as the CPU executor's libm::erff);
// absolute error well under 1e-7.
fn erf_acc(x_in: f32) -> f32 {
    let ax = abs(x_in);
    if (is_nan_f32(x_in)) {
        return x_in;
    }
    if (ax < 0.84375) {
        if (ax < 3.7252903e-9) {
            return 0.125 * (8.0 * x_in + 1.0270333290e+00 * x_in);
        }
        let z = x_in * x_in;
        let r = 1.2837916613e-01 + z * (-3.2504209876e-01 + z * (-2.8481749818e-02 + z * (-5.7702702470e-03 + z * -2.3763017452e-05)));
        let s = 1.0 + z * (3.9791721106e-01 + z * (6.5022252500e-02 + z * (5.0813062117e-03 + z * (1.3249473704e-04 + z * -3.9602282413e-06))));
        return x_in + x_in * (r / s);
    }
    var y: f32;
    if (ax < 1.25) {
        let s = ax - 1.0;
        let pa = -2.3621185683e-03 + s * (4.1485610604e-01 + s * (-3.7220788002e-01 + s * (3.1834661961e-01 + s * (-1.1089469492e-01 + s * (3.5478305072e-02 + s * -2.1663755178e-03)))));
        let qa = 1.0 + s * (1.0642088205e-01 + s * (5.4039794207e-01 + s * (7.1828655899e-02 + s * (1.2617121637e-01 + s * (1.3637083583e-02 + s * 1.1984500103e-02)))));
        y = 8.4506291151e-01 + pa / qa;
    } else if (ax < 6.0) {
        let s = 1.0 / (ax * ax);
        var r: f32;
        var big_s: f32;
        if (ax < 2.857142857) {
            r = -9.8649440333e-03 + s * (-6.9385856390e-01 + s * (-1.0558626175e+01 + s * (-6.2375331879e+01 + s * (-1.6239666748e+02 + s * (-1.8460508728e+02 + s * (-8.1287437439e+01 + s * -9.8143291473e+00))))));
            big_s = 1.0 + s * (1.9651271820e+01 + s * (1.3765776062e+02 + s * (4.3456588745e+02 + s * (6.4538726807e+02 + s * (4.2900814819e+02 + s * (1.0863500214e+02 + s * (6.5702495575e+00 + s * -6.0424413532e-02)))))));
        } else {
            r = -9.8649431020e-03 + s * (-7.9928326607e-01 + s * (-1.7757955551e+01 + s * (-1.6063638306e+02 + s * (-6.3756646729e+02 + s * (-1.0250950928e+03 + s * -4.8351919556e+02)))));
            big_s = 1.0 + s * (3.0338060379e+01 + s * (3.2579251099e+02 + s * (1.5367296143e+03 + s * (3.1998581543e+03 + s * (2.5530502930e+03 + s * (4.7452853394e+02 + s * -2.2440952301e+01))))));
        }
        let z = bitcast<f32>(bitcast<u32>(ax) & 0xffffe000u);
        y = 1.0 - exp(-z * z - 0.5625) * exp((z - ax) * (z + ax) + r / big_s) / ax;
    } else {
        y = 1.0;
    }
    return select(y, -y, x_in < 0.0);
}

fn sigmoid_f(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

fn softplus_f(x: f32) -> f32 {
    return relu_nan(x) + log1p_acc(exp(-abs(x)));
}

fn elu_f(x: f32, alpha: f32) -> f32 {
    if (x > 0.0) {
        return x;
    }
    return alpha * expm1_acc(x);
}

fn hard_sigmoid_f(x: f32, slope: f32) -> f32 {
    return clamp_nan(slope * x + 0.5, 0.0, 1.0);
}

// Keras's general relu (Activation::Relu): max(x, 0), or for a threshold t != 0 x above t and
// else 0 (Keras 3) or x * 0 (tf-keras, flag 2: NaN for a NaN or -inf); clipped to max_value;
// minus slope * max(t - x, 0) when the slope is not 0.
fn relu_general(x: f32, a: vec4<f32>) -> f32 {
    let flags = u32(a.w);
    var pos = relu_nan(x);
    if (a.z != 0.0) {
        var below = 0.0;
        if ((flags & 2u) != 0u && is_nonfinite_f32(x)) {
            below = nan_f32();
        }
        pos = select(below, x, x > a.z);
    }
    if ((flags & 1u) != 0u) {
        pos = clamp_nan(pos, 0.0, a.y);
    }
    if (a.x == 0.0) {
        return pos;
    }
    return pos - a.x * relu_nan(a.z - x);
}

// ACT value that makes a kernel read the activation code from its parameters instead (the
// software GEMM uses it so one compiled pipeline serves every activation: llvmpipe takes seconds
// to compile it).
const ACT_DYNAMIC: u32 = 255u;

// One element of the activation selected by ACT.
fn activate(x: f32, a: vec4<f32>) -> f32 {
    return act_apply(ACT, x, a);
}

// One element of activation `code`. `a` carries its parameters:
// relu: (negative_slope, max_value, threshold, flags: 1 max_value is set, 2 threshold by
// product); elu: (alpha); hard_sigmoid: (slope).
fn act_apply(code: u32, x: f32, a: vec4<f32>) -> f32 {
    switch code {
        case 1u: { return relu_general(x, a); }
        case 2u: { return sigmoid_f(x); }
        case 3u: { return tanh_acc(x); }
        case 4u: { return elu_f(x, a.x); }
        case 5u: { return 1.0507009873554805 * elu_f(x, 1.6732632423543772); }
        case 6u: { return softplus_f(x); }
        case 7u: { return x / (1.0 + abs(x)); }
        case 8u: { return x * sigmoid_f(x); }
        case 9u: { return 0.5 * x * (1.0 + erf_acc(x / 1.4142135623730951)); }
        case 10u: {
            return 0.5 * x * (1.0 + tanh_acc(0.7978845608028654 * (x + 0.044715 * x * x * x)));
        }
        case 11u: { return hard_sigmoid_f(x, a.x); }
        case 12u: { return x * hard_sigmoid_f(x, 1.0 / 6.0); }
        case 13u: { return exp(x); }
        case 14u: { return x * tanh_acc(softplus_f(x)); }
        default: { return x; }
    }
}

// ---- grouped reductions (softmax, layer norm, L2 normalisation; see `Groups`) ----

// Offset of group g's first element.
fn group_base(gr: Groups, g: u32) -> u32 {
    return offset_of(g, gr.kept_rank, gr.kept_dims, gr.kept_strides);
}

// Offset of a group's r-th element from its first.
fn red_offset(gr: Groups, r: u32) -> u32 {
    if (gr.reduced_rank == 1u) {
        return r * gr.reduced_strides[0].x;
    }
    return offset_of(r, gr.reduced_rank, gr.reduced_dims, gr.reduced_strides);
}

// An LSTM cell's update from its gates' preactivations z = (i, f, c̃, o): (c, h) with
// c = σ(f)·c_prev + σ(i)·act(c̃) and h = σ(o)·act(c), σ the recurrent activation
// (`rec_code`, `rec`) and act the activation (`act_code`, `act`). The LSTM and ConvLSTM steps
// share it.
fn lstm_cell(z: vec4<f32>, c_prev: f32, act_code: u32, act: vec4<f32>, rec_code: u32, rec: vec4<f32>) -> vec2<f32> {
    let c = act_apply(rec_code, z.y, rec) * c_prev + act_apply(rec_code, z.x, rec) * act_apply(act_code, z.z, act);
    return vec2<f32>(c, act_apply(rec_code, z.w, rec) * act_apply(act_code, c, act));
}
