#!/usr/bin/env python3
"""Write keqv's test fixtures with Keras itself.

    python models/generate.py            # everything (deletes and regenerates models/k3, models/tfk,
                                         # models/inputs, models/fixtures.json)
    python models/generate.py --only i_nonfinite_acts,i_nonfinite_merge_norm
                                         # only these models: their files are rewritten and their
                                         # manifest entries replaced; every other file is untouched
    python models/generate.py --writer k3|tfk --entries FILE [--only ...]   # one writer (run by
                                         # the lines above)

Two writers, each in its own subprocess (Keras 3 and tf-keras do not share a process cleanly):
  k3  = Keras 3 (KERAS_BACKEND=jax)  -> models/k3/
  tfk = tf-keras 2.x (import tf_keras) -> models/tfk/
Weights never come from Keras's random init: they are drawn with numpy from a fixed seed per model
and set with set_weights, so a model's k3 and tfk files (and its "twins") hold identical weights.
Inputs (models/inputs/) are written once by the parent and shared by both writers. Expected outputs
are Keras's own model.predict(x), float32.

The i_nonfinite_* models take inputs holding NaN, +inf and -inf at fixed positions. Their tf-keras
predictions are made with TF_ENABLE_ONEDNN_OPTS=0: with oneDNN (TensorFlow's default on x86),
tf.nn.softmax of a row holding a NaN or +inf puts NaN at positions that depend on the SIMD lanes
and 0 elsewhere; without it, the row is NaN, as in Keras 3 (jax). t_timedist's too: oneDNN's
convolution with a fused relu turns a NaN into 0, which TensorFlow's own kernels do not.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCH = 8

# ---------------------------------------------------------------------------------------------
# Seeds and inputs (shared by both writers; numpy only)
# ---------------------------------------------------------------------------------------------

# weight seed per model; twins share the seed of the model they copy
WEIGHT_SEED = {
    "a_seq_mlp": 1001, "a_func_mlp": 1001, "a_seq_mlp_perturbed": 1001,
    "b_seq_custom": 1002,
    "c_func_skip": 1003, "c_func_skip_reimpl": 1003, "c_seq_skip_dropped": 1003,
    "d_chain_func": 1004, "d_chain_seq": 1004,
    "e_zoo": 1005, "e_layout": 1006, "e_acts": 1007, "e_act_layers": 1008,
    "e_nested": 1009, "e_nested_func": 1010, "e_shared": 1011, "e_bignames": 1012,
    "f_lambda": 1013, "f_lambda_named": 1013, "g_gelu_exact": 1014,
    "h_two_heads": 1015, "h_wide_head": 1016,
    "i_nonfinite_acts": 1017, "i_nonfinite_merge_norm": 1018,
    "j_pad_crop": 1019, "j_pad_crop_seq": 1020,
    "k_pool": 1021, "k_pool_seq": 1022,
    "l_conv": 1023, "l_conv_seq": 1024,
    "m_depthwise": 1025, "m_depthwise_seq": 1026,
    "n_transpose": 1027, "n_transpose_seq": 1028,
    "o_resample": 1029, "o_resample_seq": 1030,
    "p_preprocess": 1031, "p_preprocess_seq": 1032,
    "q_op_layers": 1033,
    "r_recurrent": 1034, "r_recurrent_seq": 1035,
    "s_masking": 1036, "s_text_seq": 1037, "s_text_cnn": 1038,
    "t_bidirectional": 1039, "t_tagger_seq": 1040,
    "u_attention": 1041, "u_encoder": 1042, "u_attention_nonfinite": 1043,
    "u_einsum": 1044, "u_einsum_seq": 1045, "v_seq2seq": 1046,
    "u_mha_dropout": 1047, "s_text_func": 1048,
    "t_timedist": 1049, "t_timedist_seq": 1050, "v_bi_states": 1051,
    "u_mha_axes": 1052,
    "w_rnn_cells": 1053, "w_stacked_cells": 1054, "w_rnn_cells_seq": 1055, "w_cudnn": 1056,
    "y_convlstm": 1057, "y_convlstm_seq": 1058, "y_convlstm_nonfinite": 1059,
    "x_dot": 1060, "x_category": 1061, "x_category_seq": 1062, "x_lookup_adapted": 1062,
    "z_inception": 1070, "z_dense_block": 1071, "z_unet": 1072, "z_nested_blocks": 1073,
    "z_shared_chain": 1074,
}
# (also the order of the models in fixtures.json: by writer, then by this order)

# input spec per model: {input name or None (single input): (shape without batch, scale)}
# twins get the same input (same seed), so their expected outputs are directly comparable
INPUT_SPEC = {
    "u_mha_axes": (2052, {"grid": ((4, 5, 6), 1.0), "other": ((3, 5, 6), 1.0),
                          "vol": ((2, 3, 4, 6), 1.0)}),
    "u_einsum": (2044, {"x": ((5, 8), 1.0), "y": ((4, 3, 2), 1.0)}),
    "u_einsum_seq": (2045, {None: ((5, 8), 1.0)}),
    "a_seq_mlp": (2001, {None: ((784,), 1.0)}),
    "a_func_mlp": (2001, {None: ((784,), 1.0)}),
    "a_seq_mlp_perturbed": (2001, {None: ((784,), 1.0)}),
    "b_seq_custom": (2002, {None: ((100,), 1.0)}),
    "c_func_skip": (2003, {None: ((100,), 1.0)}),
    "c_func_skip_reimpl": (2003, {None: ((100,), 1.0)}),
    "c_seq_skip_dropped": (2003, {None: ((100,), 1.0)}),
    "d_chain_func": (2004, {None: ((32,), 1.0)}),
    "d_chain_seq": (2004, {None: ((32,), 1.0)}),
    "e_zoo": (2005, {"in_seq": ((6, 4), 1.0), "in_vec": ((24,), 1.0)}),
    "e_layout": (2006, {None: ((3, 4, 5), 1.0)}),
    "e_acts": (2007, {None: ((16,), 3.0)}),
    "e_act_layers": (2008, {None: ((12,), 3.0)}),
    "e_nested": (2009, {None: ((20,), 1.0)}),
    "e_nested_func": (2010, {None: ((20,), 1.0)}),
    "e_shared": (2011, {"a": ((8,), 1.0), "b": ((8,), 1.0)}),
    "e_bignames": (2012, {None: ((4,), 1.0)}),
    "f_lambda": (2013, {None: ((8,), 1.0)}),
    "f_lambda_named": (2013, {None: ((8,), 1.0)}),
    "g_gelu_exact": (2014, {None: ((16,), 3.0)}),
    "h_two_heads": (2003, {None: ((100,), 1.0)}),
    "h_wide_head": (2003, {None: ((100,), 1.0)}),
    "j_pad_crop": (2019, {"seq": ((7, 3), 1.0), "img": ((6, 5, 3), 1.0),
                          "vol": ((4, 5, 3, 2), 1.0)}),
    "j_pad_crop_seq": (2020, {None: ((6, 5, 3), 1.0)}),
    "k_pool": (2021, {"seq": ((9, 3), 1.0), "img": ((7, 8, 3), 1.0),
                      "vol": ((5, 6, 4, 2), 1.0)}),
    "k_pool_seq": (2022, {None: ((8, 7, 3), 1.0)}),
    "l_conv": (2023, {"seq": ((12, 4), 1.0), "img": ((9, 8, 4), 1.0),
                      "vol": ((5, 6, 4, 2), 1.0)}),
    "l_conv_seq": (2024, {None: ((8, 8, 3), 1.0)}),
    "m_depthwise": (2025, {"seq": ((12, 4), 1.0), "img": ((9, 8, 4), 1.0)}),
    "m_depthwise_seq": (2026, {None: ((8, 8, 3), 1.0)}),
    "n_transpose": (2027, {"seq": ((5, 2), 1.0), "img": ((4, 3, 2), 1.0),
                           "vol": ((2, 2, 2, 2), 1.0)}),
    "n_transpose_seq": (2028, {None: ((16,), 1.0)}),
    "o_resample": (2029, {"seq": ((4, 2), 1.0), "img": ((3, 2, 2), 1.0), "pic": ((9, 8, 1), 1.0),
                          "vol": ((2, 2, 2, 1), 1.0), "vec": ((4,), 1.0)}),
    "o_resample_seq": (2030, {None: ((4, 4, 6), 1.0)}),
    "p_preprocess": (2031, {"seq": ((5, 4), 1.0), "img": ((4, 3, 4), 1.0),
                            "vol": ((2, 3, 2, 2), 1.0)}),
    "p_preprocess_seq": (2032, {None: ((8, 8, 3), 64.0)}),
    "q_op_layers": (2033, {"x": ((4, 3), 2.0), "y": ((4, 3), 2.0)}),
    "r_recurrent": (2034, {"seq": ((7, 5), 1.0)}),
    "r_recurrent_seq": (2035, {None: ((6, 3), 1.0)}),
    "w_cudnn": (2056, {None: ((6, 4), 1.0)}),
    "y_convlstm": (2057, {"seq": ((4, 7, 2), 1.0), "img": ((4, 6, 6, 2), 1.0),
                          "vol": ((3, 4, 4, 3, 2), 1.0)}),
    "y_convlstm_seq": (2058, {None: ((4, 6, 6, 2), 1.0)}),
    "z_inception": (2070, {None: ((6, 6, 3), 1.0)}),
    "z_dense_block": (2071, {None: ((6, 6, 3), 1.0)}),
    "z_unet": (2072, {None: ((8, 8, 2), 1.0)}),
    "z_nested_blocks": (2073, {None: ((12,), 1.0)}),
    "z_shared_chain": (2074, {None: ((10,), 1.0)}),
}

# models whose tf-keras writer runs without oneDNN (see the module docstring)
ONEDNN_OFF = {"i_nonfinite_acts", "i_nonfinite_merge_norm", "t_timedist"}


def nonfinite_rows():
    """8 rows of 12: NaN, +inf and -inf at fixed positions among ordinary values (0.3, 0.5, 6.5
    sit at relu's, the thresholds' and relu6's edges), so that every elementwise op meets each
    of them in several vector lanes and a softmax row sees a NaN, a +inf, two +inf, only -inf,
    and one number among -inf."""
    n, i = np.nan, np.inf
    base = [0.0, 1.0, -0.5, 2.0, 0.3, -2.0, 7.0, -7.0, 0.5, 6.5, -0.1, 3.0]
    rows = [list(base) for _ in range(BATCH)]
    rows[0][5] = n                               # one NaN
    rows[1][2] = i                               # one +inf
    rows[2][11] = -i                             # one -inf
    # rows[3]: only numbers
    rows[4][0], rows[4][7] = i, i                # two +inf
    rows[5] = [-i] * 12                          # only -inf
    rows[6][1], rows[6][4], rows[6][9] = i, -i, n  # all three
    rows[7] = [-i] * 12
    rows[7][3] = 0.0                             # one number among -inf
    return np.array(rows, np.float32)


def nonfinite_pair():
    """Inputs a and b of i_nonfinite_merge_norm: b is a with its rows shifted by one and its
    columns reversed, so NaN, +inf and -inf meet each other and numbers in both orders."""
    a = nonfinite_rows()
    return {"a": a, "b": np.ascontiguousarray(np.roll(a, 1, axis=0)[:, ::-1])}


def token_ids(seed, steps, vocab, empty_row=False):
    """8 rows of `steps` token ids in 1..vocab-1 padded with 0 (id 0 is padding for mask_zero):
    full rows, rows padded at the end and at the start, a row with a gap, a row with one real
    step and, with `empty_row`, a row of padding only (a masked mean of nothing is NaN in
    Keras), int32."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(BATCH, steps)).astype(np.int32)
    ids[1, steps - 3:] = 0          # padded at the end
    ids[2, :4] = 0                  # padded at the start
    ids[3, 2:5] = 0                 # a gap
    if empty_row:
        ids[4, :] = 0               # padding only
    ids[5, 1:] = 0                  # one real step
    ids[7, steps // 2:] = 0
    return ids


def masking_inputs():
    """s_masking: token ids (9 steps, vocabulary 20) and feature steps (6, 4) where some steps
    are all 0.0 (what Masking(0.0) masks) and one step has a single 0.0 (not masked)."""
    feats = np.random.default_rng(2036).standard_normal((BATCH, 6, 4)).astype(np.float32)
    feats[0, 4:] = 0.0
    feats[1, :2] = 0.0
    feats[2, 3] = 0.0
    feats[3, :] = 0.0
    feats[5, 2, 1] = 0.0
    return {"ids": token_ids(2036, 9, 20, empty_row=True), "feats": feats}


def convlstm_nonfinite_input():
    """y_convlstm_nonfinite: 4 steps of 7 positions and 2 channels, N(0, 1), with a NaN, a +inf
    and a -inf at fixed steps and positions of samples 0 to 2 (a window and the later steps
    carry them on); the other samples stay finite."""
    x = np.random.default_rng(2059).standard_normal((BATCH, 4, 7, 2)).astype(np.float32)
    x[0, 1, 3, 0] = np.nan
    x[1, 2, 0, 1] = np.inf
    x[2, 3, 6, 0] = -np.inf
    return x


def attention_inputs(seed):
    """u_attention: query ids (5 steps) and value ids (7 steps), vocabulary 20, 0-padded; feature
    steps (6, 8); an attention mask (5, 7) of 0.0 and 1.0 with a row of 0.0 only."""
    rng = np.random.default_rng(seed)
    amask = (rng.random((BATCH, 5, 7)) < 0.7).astype(np.float32)
    amask[0, 2, :] = 0.0
    return {"q_ids": token_ids(seed, 5, 20), "v_ids": token_ids(seed + 1, 7, 20),
            "feats": rng.standard_normal((BATCH, 6, 8)).astype(np.float32), "amask": amask}


def attention_nonfinite_inputs(seed):
    """u_attention_nonfinite: query ids (5 steps, vocabulary 20, 0-padded), values (6, 4), keys:
    the values with NaN, +inf and -inf at fixed steps, and an attention mask (5, 6) that masks
    sample 0's NaN key step for every query."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((BATCH, 6, 4)).astype(np.float32)
    keys = values.copy()
    keys[0, 2, 1] = np.nan
    keys[1, 3, :] = np.inf
    keys[2, 0, 0] = -np.inf
    keys[3, 5, 2] = np.nan
    amask = (rng.random((BATCH, 5, 6)) < 0.7).astype(np.float32)
    amask[0, :, 2] = 0.0
    amask[3, 1, :] = 0.0
    return {"q_ids": token_ids(seed, 5, 20), "values": values, "keys": keys, "amask": amask}


def clips(seed, shape, nonfinite=False):
    """8 clips of `shape` (steps, height, width, channels), N(0, 1); with `nonfinite`, clip 6
    holds a NaN in one frame and clip 7 a +inf and a -inf in others."""
    x = np.random.default_rng(seed).standard_normal((BATCH,) + shape).astype(np.float32)
    if nonfinite:
        x[6, 1, 2, 3, 0] = np.nan
        x[7, 0, 0, 0, 1] = np.inf
        x[7, 3, 5, 5, 0] = -np.inf
    return x


def rnn_cell_inputs(seed, steps, feat_steps, nonfinite=False):
    """w_rnn_cells, w_stacked_cells: token ids (vocabulary 20, 0-padded) and feature steps (4
    features); with `nonfinite`, NaN, +inf and -inf steps in samples 0-2 (what a recurrent layer
    carries on through its state)."""
    feats = np.random.default_rng(seed).standard_normal((BATCH, feat_steps, 4)).astype(np.float32)
    if nonfinite:
        feats[0, 3, 1] = np.nan
        feats[1, feat_steps - 1, :] = np.inf
        feats[2, 0, 2] = -np.inf
    return {"ids": token_ids(seed, steps, 20), "feats": feats}


def dot_inputs():
    """x_dot: vectors a, b (6,) and sequences s (4, 6), t (5, 6), u (4, 3), normal draws; a
    holds NaN, +inf and -inf, s a NaN step and an infinite value, b a row of zeros (a zero
    norm, which normalize floors)."""
    rng = np.random.default_rng(2060)
    x = {k: rng.standard_normal((BATCH,) + shape).astype(np.float32)
         for k, shape in (("a", (6,)), ("b", (6,)), ("s", (4, 6)), ("t", (5, 6)), ("u", (4, 3)))}
    x["a"][1, 2] = np.nan
    x["a"][2, 0] = np.inf
    x["a"][3, 5] = -np.inf
    x["b"][4, :] = 0.0
    x["s"][5, 1, 3] = np.nan
    x["s"][6, 2, 0] = np.inf
    return x


def category_inputs():
    """x_category: token ids (5,) in 0..5 (CategoryEncoding's range), one id (1,), raw ids
    (5,) among IntegerLookup's vocabulary, its mask token 0 and ids outside it (negative
    too), and values (6,) for Discretization: on its boundaries, between them, NaN, +-inf."""
    rng = np.random.default_rng(2061)
    raw = rng.choice([0, 3, 5, 7, 12, 4, 99, -3], size=(BATCH, 5)).astype(np.int32)
    values = rng.uniform(-2.0, 3.0, (BATCH, 6)).astype(np.float32)
    values[0] = [-1.0, 0.0, 0.5, 2.0, np.nan, np.inf]
    values[1, :2] = [-np.inf, -1.0000001]
    return {"ids": rng.integers(0, 6, (BATCH, 5)).astype(np.int32),
            "one": rng.integers(0, 6, (BATCH, 1)).astype(np.int32),
            "raw": raw, "values": values}


# models whose inputs are fixed arrays rather than seeded normal draws
FIXED_INPUTS = {
    "w_rnn_cells": lambda: rnn_cell_inputs(2053, 8, 6, nonfinite=True),
    "w_stacked_cells": lambda: rnn_cell_inputs(2054, 9, 7),
    "w_rnn_cells_seq": lambda: {None: token_ids(2055, 8, 20)},

    "s_masking": masking_inputs,
    "s_text_seq": lambda: {None: token_ids(2037, 10, 30)},
    "s_text_cnn": lambda: {None: token_ids(2038, 12, 30)},
    "s_text_func": lambda: {None: token_ids(2048, 9, 25)},
    "t_bidirectional": lambda: {
        "ids": token_ids(2039, 8, 25),
        "feats": np.random.default_rng(2039).standard_normal((BATCH, 7, 5)).astype(np.float32)},
    "t_tagger_seq": lambda: {None: token_ids(2040, 10, 40)},
    "t_timedist": lambda: {None: clips(2049, (4, 6, 6, 2), nonfinite=True)},
    "t_timedist_seq": lambda: {None: clips(2050, (5, 8, 8, 1))},
    "u_attention": lambda: attention_inputs(2041),
    "u_encoder": lambda: {None: token_ids(2042, 10, 30)},
    "u_attention_nonfinite": lambda: attention_nonfinite_inputs(2043),
    "u_mha_dropout": lambda: {None: token_ids(2047, 7, 20, empty_row=True)},
    "v_seq2seq": lambda: {
        "source": token_ids(2046, 8, 30),
        "target": np.random.default_rng(2046).standard_normal((BATCH, 5, 4)).astype(np.float32)},
    "v_bi_states": lambda: {
        "source": token_ids(2051, 8, 30),
        "target": np.random.default_rng(2051).standard_normal((BATCH, 5, 4)).astype(np.float32)},
    "x_dot": dot_inputs,
    "x_category": category_inputs,
    "x_category_seq": lambda: {None: category_inputs()["raw"]},
    "x_lookup_adapted": lambda: {None: category_inputs()["raw"]},
    "i_nonfinite_acts": lambda: {None: nonfinite_rows()},
    "i_nonfinite_merge_norm": nonfinite_pair,
    "y_convlstm_nonfinite": lambda: {None: convlstm_nonfinite_input()},
}

# pairs whose outputs the parent compares (same input, same weights)
TWINS = [
    ("a_seq_mlp", "a_func_mlp", "equivalent"),
    ("a_seq_mlp", "a_seq_mlp_perturbed", "kernel[3,5] += 1e-3"),
    ("c_func_skip", "c_func_skip_reimpl", "equivalent"),
    ("c_func_skip", "c_seq_skip_dropped", "NOT equivalent (skip dropped)"),
    ("d_chain_func", "d_chain_seq", "equivalent"),
    ("x_category_seq", "x_lookup_adapted", "equivalent (vocabulary adapted, not given)"),
]

ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "gelu", "elu", "selu", "softplus",
               "softsign", "swish", "leaky_relu", "relu6", "hard_sigmoid", "exponential",
               "linear", "mish", "log_softmax", "silu"]
NONFINITE_ACTIVATIONS = ACTIVATIONS + ["hard_silu"]

BIGNAMES_LAYERS = 40
BIGNAME_LEN = 2000


def input_path(model):
    names = FIXED_INPUTS[model]() if model in FIXED_INPUTS else INPUT_SPEC[model][1]
    return "models/inputs/%s.%s" % (model, "npy" if None in names else "npz")


def write_inputs(models):
    os.makedirs(os.path.join(HERE, "inputs"), exist_ok=True)
    for model in models:
        if model in FIXED_INPUTS:
            arrays = FIXED_INPUTS[model]()
        else:
            seed, spec = INPUT_SPEC[model]
            rng = np.random.default_rng(seed)
            arrays = {}
            for name, (shape, scale) in spec.items():
                arrays[name] = (rng.standard_normal((BATCH,) + shape) * scale).astype(np.float32)
        path = os.path.join(ROOT, input_path(model))
        if None in arrays:
            np.save(path, arrays[None])
        else:
            np.savez(path, **arrays)


def load_input(model):
    path = os.path.join(ROOT, input_path(model))
    if path.endswith(".npy"):
        return np.load(path)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


# ---------------------------------------------------------------------------------------------
# Weights from numpy
# ---------------------------------------------------------------------------------------------

def draw(rng, role, shape):
    if role == "kernel":
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        return rng.standard_normal(shape) / np.sqrt(fan_in)
    if role == "depthwise_kernel":  # (*kernel_size, in_channels, depth_multiplier): fan_in = taps
        return rng.standard_normal(shape) / np.sqrt(int(np.prod(shape[:-2])))
    if role == "pointwise_kernel":  # (1[, 1], in_channels * depth_multiplier, filters)
        return rng.standard_normal(shape) / np.sqrt(int(np.prod(shape[:-1])))
    if role == "embeddings":  # (input_dim, output_dim): unit-scale vectors
        return rng.standard_normal(shape)
    if role == "recurrent_kernel":  # (units, gates * units): fan_in = units
        return rng.standard_normal(shape) / np.sqrt(shape[0])
    if role == "bias":
        return rng.standard_normal(shape) * 0.1
    if role == "gamma":
        return 1.0 + rng.standard_normal(shape) * 0.2
    if role == "beta":
        return rng.standard_normal(shape) * 0.1
    if role == "moving_mean":
        return rng.standard_normal(shape) * 0.3
    if role == "moving_variance":
        return rng.uniform(0.5, 2.0, shape)
    if role == "alpha":  # PReLU
        return rng.uniform(0.05, 0.5, shape)
    if role == "transpose_kernel":  # (*kernel_size, filters, in_channels): fan_in = taps * in
        return rng.standard_normal(shape) / np.sqrt(int(np.prod(shape[:-2])) * shape[-1])
    if role == "mean":  # Normalization
        return rng.standard_normal(shape) * 0.5
    if role == "variance":  # Normalization: positive
        return rng.uniform(0.25, 4.0, shape)
    return rng.standard_normal(shape) * 0.1


def var_role(v, layer=None):
    # k3: "kernel"; tf-keras: "dense/kernel:0"
    role = v.name.split("/")[-1].split(":")[0]
    # Keras 3 names a DepthwiseConv1D/2D kernel "kernel", tf-keras "depthwise_kernel"
    # (a TimeDistributed layer's variables are its wrapped layer's)
    if type(layer).__name__ == "TimeDistributed":
        layer = layer.layer
    cls = type(layer).__name__
    if role == "kernel" and cls.startswith("DepthwiseConv"):
        return "depthwise_kernel"
    # Conv1D/2D/3DTranspose kernels are (*kernel_size, filters, in_channels)
    if role == "kernel" and cls in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        return "transpose_kernel"
    # ConvNeXt's LayerScale: Keras 3 leaves its one weight unnamed ("variable"), tf-keras names
    # it "gamma"; RMSNormalization's "scale" multiplies like a gamma
    if cls == "LayerScale" or (cls == "RMSNormalization" and role == "scale"):
        return "gamma"
    # a ConvLSTM's recurrent kernel is (*kernel_size, filters, 4 * filters): fan_in = taps * filters
    if role == "recurrent_kernel" and cls.startswith("ConvLSTM"):
        return "kernel"
    return role


def fill_layer(rng, layer):
    ws = layer.get_weights()
    if not ws:
        return
    new = []
    for v, w in zip(layer.weights, ws):
        if not np.issubdtype(w.dtype, np.floating):
            new.append(w)
            continue
        new.append(draw(rng, var_role(v, layer), w.shape).astype(np.float32))
    layer.set_weights(new)
    if type(layer).__name__ == "Normalization":
        # an adapted Normalization computes with copies of mean and variance made when they were
        # last set by adapt() or loaded from a file; set_weights alone leaves them stale
        layer.finalize_state()


def fill(K, model, seed, order=None):
    """Set every weight from np.random.default_rng(seed).

    Layers are visited in `order` (layer names) if given, else in Sequential order, else (Functional)
    sorted by name; nested models are visited recursively by the same rule. Twins pass their own
    layer names in the same canonical order, so they get identical weights layer by layer."""
    rng = np.random.default_rng(seed)

    def visit(m, names):
        if names is None:
            if isinstance(m, K.Sequential):
                layers = list(m.layers)
            else:
                layers = sorted(m.layers, key=lambda l: l.name)
        else:
            by_name = {l.name: l for l in m.layers}
            layers = [by_name[n] for n in names]
        for layer in layers:
            if isinstance(layer, K.Model):
                visit(layer, None)
            else:
                fill_layer(rng, layer)

    visit(model, order)


def k3_only_last(k3_only):
    """fill() order for a Functional model where the layers named in `k3_only` (a list, which the
    builder may fill in) exist in the k3 writer only: every layer by name, those last, so that
    both writers draw the same weights for the layers they share."""
    def order(model):
        names = sorted(l.name for l in model.layers)
        return [n for n in names if n not in k3_only] + [n for n in names if n in k3_only]
    return order


# ---------------------------------------------------------------------------------------------
# Model definitions (one code path for both writers; K is keras or tf_keras)
# ---------------------------------------------------------------------------------------------

def times_two_plus_one(x):
    return x * 2.0 + 1.0


class Spec:
    def __init__(self, name, build, order=None, formats=("keras", "h5"), chain=True,
                 custom=None, runnable=True, notes="", post=None, weights_files=False,
                 nonfinite=False, reload_note=None, load_custom=None, h5_build=None,
                 h5_note="", reference=None):
        self.name = name
        self.build = build          # () -> model (called after clear_session)
        self.order = order          # canonical layer order for fill(): names, or model -> names
        self.formats = formats
        self.chain = chain
        self.custom = custom or {}
        self.runnable = runnable
        self.notes = notes
        self.post = post            # (model) -> None, after fill (perturbation)
        self.weights_files = weights_files
        self.nonfinite = nonfinite  # Keras's predictions hold NaN / inf on purpose
        self.reload_note = reload_note  # why this writer reloads a file into other predictions
        self.load_custom = load_custom or {}  # custom_objects a reload needs (unregistered classes)
        self.h5_build = h5_build    # () -> the model saved as .h5 when this writer cannot save
        self.h5_note = h5_note      # `build`'s: same weights, same predictions; why, in h5_note
        self.reference = reference  # (path) -> the model whose predictions stand for the file's
                                    # where this Keras cannot run the file's layers here


def model_specs(K, writer):
    L = K.layers
    k3 = writer == "k3"

    if k3:
        @K.saving.register_keras_serializable(package="mypkg")
        class FeatureNormalization(L.Layer):
            def call(self, x):
                return K.ops.normalize(x, axis=-1, order=2)
    else:
        import tensorflow as tf

        @K.saving.register_keras_serializable(package="mypkg")
        class FeatureNormalization(L.Layer):
            def call(self, x):
                return tf.math.l2_normalize(x, axis=-1)

    # The tanh form of gelu, which no activation string names (keqv: gelu_approximate).
    @K.saving.register_keras_serializable(package="mypkg")
    class GeluApprox(L.Layer):
        def call(self, x):
            return K.activations.gelu(x, approximate=True)

    specs = []

    # --- a: MLP, its functional twin, a perturbed copy -----------------------------------------
    def a_seq():
        return K.Sequential([K.Input((784,)), L.Dense(16, activation="relu"),
                             L.Dense(10, activation="softmax")])

    def a_func():
        x = K.Input((784,), name="pixels")
        h = L.Dense(16, activation="relu", name="hidden")(x)
        y = L.Dense(10, activation="softmax", name="probs")(h)
        return K.Model(x, y, name="a_func_mlp")

    def perturb(m):
        k, b = m.layers[0].get_weights()
        k[3, 5] += np.float32(1e-3)
        m.layers[0].set_weights([k, b])

    specs += [
        Spec("a_seq_mlp", a_seq, weights_files=True,
             notes="Sequential MLP 784-16-10, default layer names"),
        Spec("a_func_mlp", a_func, order=["hidden", "probs"],
             notes="functional twin of a_seq_mlp (identical weights)"),
        Spec("a_seq_mlp_perturbed", a_seq, formats=("keras",) if k3 else ("h5",), post=perturb,
             notes="a_seq_mlp with first Dense kernel[3,5] += 1e-3"),
    ]

    # --- b: registered custom layer --------------------------------------------------------------
    def b_seq():
        return K.Sequential([K.Input((100,)), FeatureNormalization(),
                             L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])

    specs.append(Spec("b_seq_custom", b_seq, custom={"FeatureNormalization": "l2_normalize"},
                      notes="custom layer mypkg>FeatureNormalization = L2-normalise last axis "
                            + ("(keras.ops.normalize)" if k3 else "(tf.math.l2_normalize)")))

    # --- c: skip connection, a re-implementation, a wrong linearisation ------------------------
    def c_skip():
        x = K.Input((100,), name="input")
        a = L.Dense(64, activation="relu", name="dense_x")(x)
        b = L.Dense(64, activation="relu", name="dense_y")(a)
        s = L.Add(name="add")([a, b])
        y = L.Dense(10, activation="softmax", name="out")(s)
        return K.Model(x, y, name="func_skip")

    def c_reimpl():
        x = K.Input((100,), name="features")
        a = L.Dense(64, activation="relu", name="h1")(x)
        b = L.Dense(64, activation="relu", name="h2")(a)
        s = L.Add(name="sum")([b, a])
        y = L.Dense(10, activation="softmax", name="logits")(s)
        return K.Model(x, y, name="func_skip_reimpl")

    def c_dropped():
        return K.Sequential([K.Input((100,)), L.Dense(64, activation="relu"),
                             L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")])

    specs += [
        Spec("c_func_skip", c_skip, order=["dense_x", "dense_y", "out"], chain=False,
             weights_files=True, notes="Dense-Dense-Add skip connection"),
        Spec("c_func_skip_reimpl", c_reimpl, order=["h1", "h2", "logits"], chain=False,
             notes="c_func_skip with Add operands swapped and other names: equivalent"),
        Spec("c_seq_skip_dropped", c_dropped, notes="c_func_skip linearised wrongly (skip "
             "dropped), same weights: NOT equivalent"),
    ]

    # --- d: functional chain and its Sequential twin ---------------------------------------------
    def d_layers():
        return [L.Dense(64, name="d1"), L.Activation("tanh", name="act"),
                L.UnitNormalization(name="unorm"), L.Dense(10, name="d2")]

    def d_func():
        x = K.Input((32,), name="x")
        h = x
        for layer in d_layers():
            h = layer(h)
        return K.Model(x, h, name="d_chain_func")

    def d_seq():
        return K.Sequential([K.Input((32,), name="x")] + d_layers(), name="d_chain_seq")

    specs += [
        Spec("d_chain_func", d_func, order=["d1", "d2"], notes="functional chain"),
        Spec("d_chain_seq", d_seq, order=["d1", "d2"], notes="Sequential twin of d_chain_func"),
    ]

    # --- e_zoo: two inputs, two outputs, merge layers -------------------------------------------
    def e_zoo():
        a = K.Input((6, 4), name="in_seq")
        b = K.Input((24,), name="in_vec")
        s = L.Flatten(name="flat")(a)
        s = L.Dense(24, name="d_pre")(s)
        s = L.BatchNormalization(name="bn")(s)
        s = L.LayerNormalization(name="ln")(s)
        v = L.Dropout(0.5, name="drop")(b)
        v = L.Dense(24, name="d_b")(v)
        mul = L.Multiply(name="mul")([s, v])
        sub = L.Subtract(name="sub")([s, v])
        avg = L.Average(name="avg")([s, v])
        mx = L.Maximum(name="max")([s, v])
        mn = L.Minimum(name="min")([s, v])
        add = L.Add(name="add")([s, v, mul])
        cat = L.Concatenate(name="cat")([mul, sub, avg, mx, mn, add])
        out = L.Dense(5, name="out")(cat)
        resh = L.Reshape((4, 6), name="resh")(add)
        return K.Model([a, b], [out, resh], name="e_zoo")

    specs.append(Spec("e_zoo", e_zoo, chain=False,
                      notes="2 inputs (in_seq, in_vec), 2 outputs (out, resh); Flatten, BN, LN, "
                            "Dropout, Multiply, Subtract, Average, Maximum, Minimum, Add(3 inputs), "
                            "Concatenate, Reshape"))

    # --- e_layout: layout-sensitive layers ------------------------------------------------------
    def e_layout():
        x = K.Input((3, 4, 5), name="x")
        p = L.Permute((2, 1, 3), name="perm")(x)                      # (4, 3, 5)
        r = L.Reshape((4, 15), name="resh")(p)                        # (4, 15)
        d = L.Dense(8, name="d3")(r)                                  # (4, 8) Dense on 3-D
        d = L.BatchNormalization(axis=1, name="bn_ax1")(d)           # over the 4-axis
        d = L.LayerNormalization(axis=[1, 2], name="ln_12")(d)
        r2 = L.Reshape((4, 15), name="resh2")(x)
        e = L.Dense(8, name="d3b")(r2)
        e = L.LayerNormalization(center=False, scale=False, name="ln_plain")(e)
        c1 = L.Concatenate(axis=1, name="cat_ax1")([d, e])           # (8, 8)
        c2 = L.Concatenate(axis=-1, name="cat_last")([d, e])         # (4, 16)
        if k3:
            c2 = L.LayerNormalization(rms_scaling=True, name="ln_rms")(c2)
        f1 = L.Flatten(name="flat1")(c1)
        f2 = L.Flatten(name="flat2")(c2)
        c = L.Concatenate(axis=1, name="cat_flat")([f1, f2])         # (128,)
        y = L.Dense(5, name="out")(c)
        return K.Model(x, y, name="e_layout")

    specs.append(Spec(
        "e_layout", e_layout, chain=False,
        notes="Permute, Reshape, Dense on 3-D, BN(axis=1) on 3-D, LN(axis=[1,2]), "
              "LN(center=False, scale=False), Concatenate axis 1 (3-D), -1 (3-D), 1 (2-D)"
              + ("; LN(rms_scaling=True) 'ln_rms' after cat_last" if k3 else
                 "; NO ln_rms layer (tf-keras has no rms_scaling): outputs differ from k3")))

    # --- e_acts: every activation string ---------------------------------------------------------
    dropped = []

    def e_acts():
        x = K.Input((16,), name="x")
        h = L.Dense(16, name="pre")(x)
        branches = []
        for a in ACTIVATIONS:
            try:
                layer = L.Activation(a, name="act_" + a)
            except Exception:  # string unknown to this writer
                if a not in dropped:
                    dropped.append(a)
                continue
            branches.append(layer(h))
        y = L.Concatenate(name="cat")(branches)
        return K.Model(x, y, name="e_acts")

    acts_notes = ("18 Activation strings, concatenated in order %s (16 columns each); input x3; "
                  "hard_sigmoid differs k3 (x/6+0.5) vs tfk (0.2x+0.5); swish stored as %s"
                  % (",".join(ACTIVATIONS), "silu" if k3 else "swish"))
    specs.append(Spec("e_acts", e_acts, chain=False, notes=acts_notes))

    # --- e_act_layers: activation layers + noise layers ------------------------------------------
    def e_act_layers():
        leaky = L.LeakyReLU(negative_slope=0.3) if k3 else L.LeakyReLU(alpha=0.3)
        return K.Sequential([
            K.Input((12,)),
            L.GaussianNoise(0.1),
            L.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
            L.Dense(12), leaky, L.GaussianDropout(0.1),
            L.Dense(12), L.ELU(alpha=0.7), L.AlphaDropout(0.1),
            L.Dense(12), L.PReLU(),
            L.Dense(12), L.Softmax(axis=-1)])

    specs.append(Spec("e_act_layers", e_act_layers,
                      notes="ReLU(6, 0.1, 0.5), LeakyReLU(0.3), ELU(0.7), PReLU, Softmax; "
                            "GaussianNoise/GaussianDropout/AlphaDropout (identity at inference); "
                            "input x3"))

    # --- e_nested: nested Sequential, nested Functional ------------------------------------------
    def e_nested():
        inner = K.Sequential([K.Input((20,)), L.Dense(16, activation="relu", name="inner_d1"),
                              L.Dense(16, name="inner_d2")], name="inner")
        x = K.Input((20,), name="x")
        y = L.Dense(4, name="head")(inner(x))
        return K.Model(x, y, name="e_nested")

    def e_nested_func():
        i = K.Input((20,), name="inner_in")
        h = L.Dense(16, activation="relu", name="if_d1")(i)
        h = L.Dense(20, name="if_d2")(h)
        h = L.Add(name="if_add")([i, h])
        inner = K.Model(i, h, name="inner_func")
        x = K.Input((20,), name="x")
        y = L.Dense(4, name="head")(inner(x))
        return K.Model(x, y, name="e_nested_func")

    specs += [
        Spec("e_nested", e_nested, notes="Sequential 'inner' (inner_d1, inner_d2) nested in a "
             "Functional model; a chain once flattened"),
        Spec("e_nested_func", e_nested_func, chain=False,
             notes="Functional 'inner_func' (own Input 'inner_in', residual Add) nested in a "
                   "Functional model"),
    ]

    # --- e_shared: one layer applied twice -----------------------------------------------------
    def e_shared():
        a = K.Input((8,), name="a")
        b = K.Input((8,), name="b")
        shared = L.Dense(8, name="shared")
        s = L.Add(name="add")([shared(a), shared(b)])
        y = L.Dense(3, name="out")(s)
        return K.Model([a, b], y, name="e_shared")

    specs.append(Spec("e_shared", e_shared, chain=False,
                      notes="Dense 'shared' applied to inputs a and b (2 inbound nodes)"))

    # --- z: skip connections and branches that `keqv convert --blocks` cuts into blocks -------
    def z_inception():
        x = K.Input((6, 6, 3), name="image")
        stem = L.Conv2D(4, 3, padding="same", activation="relu", name="stem")(x)
        a = L.Conv2D(3, 1, activation="relu", name="branch_1x1")(stem)
        b = L.Conv2D(3, 1, name="branch_3x3_reduce")(stem)
        b = L.BatchNormalization(name="branch_3x3_bn")(b)
        b = L.Activation("relu", name="branch_3x3_relu")(b)
        b = L.Conv2D(5, 3, padding="same", activation="relu", name="branch_3x3")(b)
        m = L.Concatenate(name="mixed")([a, b])
        h = L.GlobalAveragePooling2D(name="pool")(m)
        y = L.Dense(4, activation="softmax", name="probs")(h)
        return K.Model(x, y, name="z_inception")

    def z_dense_block():
        x = K.Input((6, 6, 3), name="image")
        h = L.Conv2D(4, 3, padding="same", name="conv0")(x)
        features = [h]
        for i in range(1, 4):
            c = features[0] if len(features) == 1 else L.Concatenate(name=f"cat{i}")(features)
            c = L.BatchNormalization(name=f"bn{i}")(c)
            c = L.Activation("relu", name=f"relu{i}")(c)
            features.append(L.Conv2D(2, 3, padding="same", name=f"conv{i}")(c))
        h = L.Concatenate(name="cat_all")(features)
        h = L.GlobalAveragePooling2D(name="pool")(h)
        y = L.Dense(3, name="logits")(h)
        return K.Model(x, y, name="z_dense_block")

    def z_unet():
        x = K.Input((8, 8, 2), name="image")
        e1 = L.Conv2D(4, 3, padding="same", activation="relu", name="enc1")(x)
        d = L.MaxPooling2D(2, name="down")(e1)
        e2 = L.Conv2D(6, 3, padding="same", activation="relu", name="enc2")(d)
        frozen = L.Conv2D(6, 1, name="bottleneck_frozen")
        frozen.trainable = False
        b = frozen(e2)
        u = L.UpSampling2D(2, name="up")(b)
        c = L.Concatenate(name="skip_cat")([e1, u])
        h = L.Conv2D(4, 3, padding="same", activation="relu", name="dec1")(c)
        y = L.Conv2D(1, 1, activation="sigmoid", name="mask")(h)
        return K.Model(x, y, name="z_unet")

    def z_nested_blocks():
        stem = K.Sequential([K.Input((12,)), L.Dense(16, activation="relu", name="stem_d1"),
                             L.Dense(16, name="stem_d2")], name="stem")
        i = K.Input((16,), name="res_in")
        r = L.Dense(16, activation="relu", name="res_d1")(i)
        r = L.Dense(16, name="res_d2")(r)
        r = L.Add(name="res_add")([i, r])
        res = K.Model(i, r, name="residual")
        j = K.Input((16,), name="mix_in")
        p = L.Dense(8, activation="tanh", name="mix_a")(j)
        q = L.Dense(8, activation="sigmoid", name="mix_b")(j)
        mix = K.Model(j, L.Multiply(name="mix_gate")([p, q]), name="mix")
        x = K.Input((12,), name="x")
        h = res(stem(x))
        h = L.Dense(16, activation="relu", name="middle")(h)
        y = L.Dense(3, name="head")(mix(h))
        return K.Model(x, y, name="z_nested_blocks")

    def z_shared_chain():
        x = K.Input((10,), name="x")
        h = L.Dense(8, activation="relu", name="d0")(x)
        shared = L.Dense(8, name="shared")
        h = shared(h)
        h = L.Activation("tanh", name="act")(h)
        h = shared(h)
        y = L.Dense(3, name="out")(h)
        return K.Model(x, y, name="z_shared_chain")

    specs += [
        Spec("z_inception", z_inception, chain=False,
             notes="Inception-style block: Conv2D stem -> two branches (1x1; 1x1, BN, relu, 3x3) "
                   "-> Concatenate -> GlobalAveragePooling2D -> Dense(4, softmax)"),
        Spec("z_dense_block", z_dense_block, chain=False,
             notes="DenseNet-style dense block: three BN-relu-Conv2D(2, 3) layers, each on the "
                   "Concatenate of every feature map before it"),
        Spec("z_unet", z_unet, chain=False,
             notes="U-Net-lite: enc1 -> MaxPooling2D -> enc2 -> frozen Conv2D (trainable=False) "
                   "-> UpSampling2D -> Concatenate with enc1 (a long skip) -> dec1 -> Conv2D mask"),
        Spec("z_nested_blocks", z_nested_blocks, chain=False,
             notes="nested models: Sequential 'stem' (a chain), Functional 'residual' (an Add "
                   "skip), Dense 'middle', Functional 'mix' (two branches gated by Multiply), "
                   "Dense 'head'"),
        Spec("z_shared_chain", z_shared_chain, chain=False,
             notes="a chain applying Dense 'shared' twice (d0 -> shared -> tanh -> shared -> "
                   "out)"),
    ]

    # --- e_bignames: > 64 KiB of layer names -> split layer_names0/1 in .h5 --------------------
    def bigname(i):
        head = "layer_%03d_" % i
        return head + "n" * (BIGNAME_LEN - len(head))

    def e_bignames():
        layers = [K.Input((4,))]
        layers += [L.Dense(4, activation="tanh", name=bigname(i)) for i in range(BIGNAMES_LAYERS)]
        return K.Sequential(layers, name="e_bignames")

    # Only .h5: the split attribute is an .h5 matter.
    specs.append(Spec("e_bignames", e_bignames, formats=("h5",),
                      notes="%d Dense(4, tanh) layers with %d-char names (.h5: layer_names split "
                            "into layer_names0/1)" % (BIGNAMES_LAYERS, BIGNAME_LEN)))

    # --- f: Lambda (not runnable without Python) -------------------------------------------------
    def f_lambda():
        return K.Sequential([K.Input((8,)), L.Lambda(lambda x: x * 2.0 + 1.0), L.Dense(3)])

    def f_lambda_named():
        return K.Sequential([K.Input((8,)), L.Lambda(times_two_plus_one), L.Dense(3)])

    specs += [
        Spec("f_lambda", f_lambda, runnable=False, notes="Lambda(lambda x: x*2+1): bytecode"),
        Spec("f_lambda_named", f_lambda_named, runnable=False,
             notes="Lambda(times_two_plus_one), a module-level function: "
                   + ("stored by name only" if k3 else "tf-keras stores its bytecode")),
    ]

    # --- g: gelu -------------------------------------------------------------------------------
    def g_gelu_exact():
        return K.Sequential([K.Input((16,)), L.Dense(16), L.Activation("gelu")])

    specs.append(Spec("g_gelu_exact", g_gelu_exact,
                      notes="Activation('gelu') = exact erf form; input x3"))

    # --- h: the same input as c_func_skip, other output signatures (verify's findings) -----------
    def h_two_heads():
        x = K.Input((100,), name="input")
        h = L.Dense(64, activation="relu", name="trunk")(x)
        out = L.Dense(10, activation="softmax", name="out")(h)
        aux = L.Dense(3, name="aux")(h)
        return K.Model(x, [out, aux], name="h_two_heads")

    def h_wide_head():
        x = K.Input((100,), name="input")
        return K.Model(x, L.Dense(12, name="out")(x), name="h_wide_head")

    if k3:
        specs += [
            Spec("h_two_heads", h_two_heads, formats=("keras",), chain=False,
                 notes="input like c_func_skip, two outputs (10 and 3)"),
            Spec("h_wide_head", h_wide_head, formats=("keras",),
                 notes="input like c_func_skip, one output of 12"),
        ]

    # --- i: NaN, +inf and -inf through every op ------------------------------------------------
    # Each op reads the input itself (no Dense before it), so it meets the special values as
    # written; its 12 outputs are concatenated in the order of the notes.
    acts_dropped = []

    def i_nonfinite_acts():
        x = K.Input((12,), name="x")
        leaky = L.LeakyReLU(negative_slope=0.3) if k3 else L.LeakyReLU(alpha=0.3)
        branches, names = [], []
        for a in NONFINITE_ACTIVATIONS:
            try:
                layer = L.Activation(a, name="act_" + a)
            except Exception:  # string unknown to this writer
                acts_dropped.append(a)
                continue
            branches.append(layer(x))
            names.append(a)
        for layer in [L.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5, name="relu_all"),
                      L.ReLU(threshold=0.5, name="relu_threshold"),
                      L.ReLU(max_value=5.0, name="relu_max5"), leaky,
                      L.ELU(alpha=0.7, name="elu_07"), L.PReLU(name="prelu"),
                      L.Softmax(name="softmax_layer"), GeluApprox(name="gelu_approx")]:
            branches.append(layer(x))
            names.append(layer.name)
        grid = L.Reshape((3, 4), name="grid")(x)
        for axis, name in (((1, 2), "softmax_12"), (1, "softmax_1")):
            branches.append(L.Flatten(name="flat_" + name)(L.Softmax(axis=axis, name=name)(grid)))
            names.append(name)
        i_nonfinite_acts.names = names
        y = L.Concatenate(name="cat")(branches)
        return K.Model(x, y, name="i_nonfinite_acts")

    def i_nonfinite_merge_norm():
        a = K.Input((12,), name="a")
        b = K.Input((12,), name="b")
        mul = L.Multiply(name="mul")([a, b])
        branches = [L.Maximum(name="max")([a, b]), L.Minimum(name="min")([a, b]),
                    L.Add(name="add")([a, b]), L.Subtract(name="sub")([a, b]), mul,
                    L.Average(name="avg")([a, b]), L.Add(name="add3")([a, b, mul]),
                    L.Maximum(name="max3")([a, b, mul]), L.Minimum(name="min3")([a, b, mul]),
                    L.BatchNormalization(name="bn")(a),
                    L.LayerNormalization(name="ln")(a),
                    L.LayerNormalization(center=False, scale=False, name="ln_plain")(b)]
        if k3:
            branches.append(L.LayerNormalization(rms_scaling=True, name="ln_rms")(a))
        branches += [L.UnitNormalization(name="unorm")(a),
                     L.Dense(6, activation="relu", name="dense_relu")(a),
                     L.Dense(6, activation="hard_sigmoid", name="dense_hsig")(b),
                     L.Dense(6, activation="softmax", name="dense_softmax")(b)]
        y = L.Concatenate(name="cat")(branches)
        return K.Model([a, b], y, name="i_nonfinite_merge_norm")

    i_nonfinite_acts.names = []
    specs += [
        Spec("i_nonfinite_acts", i_nonfinite_acts, chain=False, nonfinite=True,
             custom={"GeluApprox": "gelu_approximate"},
             reload_note="its legacy .h5 loader reads softmax_12's axis [1, 2] as -1" if k3
             else None,
             notes=lambda: "NaN/+inf/-inf input (models/generate.py nonfinite_rows); 12 columns "
                           "each of: %s; hard_sigmoid differs k3 (x/6+0.5) vs tfk (0.2x+0.5); "
                           "relu_threshold (ReLU(threshold=0.5)) gives 0 for NaN and -inf in k3 "
                           "(where(x > t, x, 0)), NaN in tfk (x * (x > t)), and so does relu_all "
                           "at -inf (-inf vs NaN)%s%s" % (
                               ",".join(i_nonfinite_acts.names),
                               "; dropped (rejected by this writer): " + ",".join(acts_dropped)
                               if acts_dropped else "",
                               "" if k3 else "; predicted without oneDNN")),
        Spec("i_nonfinite_merge_norm", i_nonfinite_merge_norm, chain=False, nonfinite=True,
             # ln_rms (k3 only) last, so that both writers draw the same weights for the rest
             order=["bn", "ln", "dense_relu", "dense_hsig", "dense_softmax"]
             + (["ln_rms"] if k3 else []),
             notes="NaN/+inf/-inf inputs a, b (models/generate.py nonfinite_pair); 12 columns "
                   "each of: Maximum, Minimum, Add, Subtract, Multiply, Average (a, b), Add, "
                   "Maximum, Minimum (a, b, a*b), BatchNormalization(a), LayerNormalization(a), "
                   "LayerNormalization(b, center/scale off), "
                   + ("LayerNormalization(a, rms_scaling), " if k3 else
                      "(no rms_scaling in tf-keras), ")
                   + "UnitNormalization(a); then 6 each of Dense(a, relu), Dense(b, hard_sigmoid), "
                     "Dense(b, softmax)" + ("" if k3 else "; predicted without oneDNN")),
    ]

    # --- j: ZeroPadding1D/2D/3D and Cropping1D/2D/3D -------------------------------------------
    # Paddings and croppings as an int, a symmetric tuple and ((before, after), ...) tuples,
    # channels_last and channels_first, crops of 0 on one side and down to a size of 1; Dense on
    # the last axis reads the padded zeros. Shapes without the batch axis in the comments.
    def j_pad_crop():
        seq = K.Input((7, 3), name="seq")
        img = K.Input((6, 5, 3), name="img")
        vol = K.Input((4, 5, 3, 2), name="vol")
        # 1D (steps, channels)
        a = L.ZeroPadding1D(2, name="zp1_int")(seq)                            # (11, 3)
        b = L.ZeroPadding1D((1, 3), name="zp1_asym")(seq)                      # (11, 3)
        s = L.Add(name="add_1d")([a, b])
        s = L.Cropping1D((2, 4), name="crop1_asym")(s)                         # (5, 3)
        t = L.Cropping1D(1, name="crop1_int")(seq)                             # (5, 3)
        s = L.Concatenate(name="cat_1d")([s, t])                               # (5, 6)
        out_1d = L.Dense(4, name="out_1d")(s)                                  # (5, 4)
        u = L.ZeroPadding1D((0, 2), name="zp1_after")(seq)                     # (9, 3)
        crop1_to1 = L.Cropping1D((6, 2), name="crop1_to1")(u)                  # (1, 3)
        v = L.Cropping1D((3, 0), name="crop1_before")(seq)                     # (4, 3)
        # 2D channels_last (rows, cols, channels)
        a = L.ZeroPadding2D(1, name="zp2_int")(img)                            # (8, 7, 3)
        a = L.Cropping2D(((0, 2), (3, 1)), name="crop2_asym")(a)               # (6, 3, 3)
        b = L.ZeroPadding2D(((1, 0), (2, 3)), name="zp2_asym")(img)            # (7, 10, 3)
        b = L.Cropping2D(((1, 0), (4, 3)), name="crop2_asym_b")(b)             # (6, 3, 3)
        c = L.Cropping2D((0, 1), name="crop2_sym")(img)                        # (6, 3, 3)
        s = L.Concatenate(name="cat_2d")([a, b, c])                            # (6, 3, 9)
        out_2d = L.Dense(4, name="out_2d")(s)                                  # (6, 3, 4)
        d = L.ZeroPadding2D((2, 1), name="zp2_sym")(img)                       # (10, 7, 3)
        d = L.Cropping2D(((4, 5), (0, 2)), name="crop2_to1")(d)                # (1, 5, 3)
        e = L.Cropping2D(2, name="crop2_int")(img)                             # (2, 1, 3)
        e = L.ZeroPadding2D(((0, 0), (2, 2)), name="zp2_cols")(e)              # (2, 5, 3)
        e = L.Cropping2D(((1, 0), (0, 0)), name="crop2_row")(e)                # (1, 5, 3)
        s = L.Add(name="add_2d")([d, e])
        out_2d_row = L.Dense(2, activation="tanh", name="out_2d_row")(s)       # (1, 5, 2)
        # 2D channels_first: img read as (channels 6, rows 5, cols 3)
        f = L.ZeroPadding2D(((1, 2), (0, 1)), data_format="channels_first",
                            name="zp2_cf")(img)                                # (6, 8, 4)
        f = L.Cropping2D(((2, 0), (1, 1)), data_format="channels_first",
                         name="crop2_cf")(f)                                   # (6, 6, 2)
        out_2d_cf = L.Dense(3, name="out_2d_cf")(f)                            # (6, 6, 3)
        crop2_cf_to1 = L.Cropping2D(((1, 3), 1), data_format="channels_first",
                                    name="crop2_cf_to1")(img)                  # (6, 1, 1)
        # 3D channels_last (dim1, dim2, dim3, channels)
        g = L.ZeroPadding3D(1, name="zp3_int")(vol)                            # (6, 7, 5, 2)
        g = L.Cropping3D(((0, 3), (2, 1), (1, 1)), name="crop3_asym")(g)       # (3, 4, 3, 2)
        h = L.ZeroPadding3D((1, 0, 2), name="zp3_sym")(vol)                    # (6, 5, 7, 2)
        h = L.Cropping3D(((2, 1), (0, 1), (1, 3)), name="crop3_asym_b")(h)     # (3, 4, 3, 2)
        s = L.Concatenate(name="cat_3d")([g, h])                               # (3, 4, 3, 4)
        out_3d = L.Dense(3, name="out_3d")(s)                                  # (3, 4, 3, 3)
        k = L.ZeroPadding3D(((0, 1), (2, 0), (1, 2)), name="zp3_asym")(vol)    # (5, 7, 6, 2)
        k = L.Cropping3D((2, (3, 3), (0, 5)), name="crop3_to1")(k)             # (1, 1, 1, 2)
        crop3_int = L.Cropping3D(1, name="crop3_int")(vol)                     # (2, 3, 1, 2)
        # 3D channels_first: vol read as (channels 4, dim1 5, dim2 3, dim3 2)
        m = L.ZeroPadding3D(((1, 1), (0, 2), (2, 0)), data_format="channels_first",
                            name="zp3_cf")(vol)                                # (4, 7, 5, 4)
        m = L.Cropping3D(((3, 1), (2, 0), (0, 1)), data_format="channels_first",
                         name="crop3_cf")(m)                                   # (4, 3, 3, 3)
        n = L.ZeroPadding3D(1, data_format="channels_first", name="zp3_cf_int")(vol)
        n = L.Cropping3D((2, 1, (0, 1)), data_format="channels_first",
                         name="crop3_cf_b")(n)                                 # (4, 3, 3, 3)
        s = L.Add(name="add_3d_cf")([m, n])
        out_3d_cf = L.Dense(2, name="out_3d_cf")(s)                            # (4, 3, 3, 2)
        outputs = [out_1d, crop1_to1, v, out_2d, out_2d_row, out_2d_cf, crop2_cf_to1,
                   out_3d, k, crop3_int, out_3d_cf]
        return K.Model([seq, img, vol], outputs, name="j_pad_crop")

    def j_pad_crop_seq():
        return K.Sequential([K.Input((6, 5, 3)),
                             L.ZeroPadding2D(((1, 2), (0, 1))),                # (9, 6, 3)
                             L.Cropping2D(((0, 1), (2, 0))),                   # (8, 4, 3)
                             L.Flatten(), L.Dense(5)], name="j_pad_crop_seq")

    specs += [
        Spec("j_pad_crop", j_pad_crop, chain=False,
             notes="3 inputs seq (7,3), img (6,5,3), vol (4,5,3,2); 11 outputs; ZeroPadding1D/2D/3D "
                   "and Cropping1D/2D/3D given as an int, a symmetric tuple and ((before, after), "
                   "...) tuples, crops of 0 on one side and to a size of 1; 2D and 3D both "
                   "channels_last and channels_first (img, vol read as channels first); Add, "
                   "Concatenate, Dense on the last axis after padding and cropping; the layer "
                   "configs and shapes are in models/generate.py"),
        Spec("j_pad_crop_seq", j_pad_crop_seq,
             notes="Sequential ZeroPadding2D(((1,2),(0,1))) -> Cropping2D(((0,1),(2,0))) -> "
                   "Flatten -> Dense(5), default layer names"),
    ]

    # --- k: MaxPooling/AveragePooling 1D/2D/3D and GlobalMax/GlobalAveragePooling 1D/2D/3D -----
    # Default strides (= pool_size), strides smaller and larger than the pool, "valid" and "same"
    # with uneven "same" padding (the extra row/column goes after: e.g. 7 with pool 2 stride 2 pads
    # (0, 1), 8 with pool 3 stride 2 pads (0, 1), 9 with pool 4 stride 2 pads (1, 2)), non-square
    # pools, channels_last and channels_first, keepdims False and True; Dense on the last axis after
    # some of them. The comments give shapes without the batch axis and, for "same", the padding
    # of each spatial axis as before+after.
    def k_pool():
        seq = K.Input((9, 3), name="seq")
        img = K.Input((7, 8, 3), name="img")
        vol = K.Input((5, 6, 4, 2), name="vol")
        # 1D channels_last (steps 9, channels 3)
        a = L.AveragePooling1D(2, padding="same", name="ap1_same")(seq)        # (5, 3) 0+1
        b = L.MaxPooling1D(4, strides=2, padding="same", name="mp1_same_p4s2")(seq)  # (5, 3) 1+2
        c = L.AveragePooling1D(4, strides=2, padding="same",
                               name="ap1_same_p4s2")(seq)                      # (5, 3) 1+2
        pool1_same = L.Concatenate(name="pool1_same")([a, b, c])               # (5, 9)
        a = L.MaxPooling1D(2, name="mp1_default")(seq)                         # (4, 3)
        b = L.MaxPooling1D(3, strides=1, name="mp1_s1")(seq)                   # (7, 3)
        c = L.AveragePooling1D(2, strides=3, name="ap1_s3")(seq)               # (3, 3)
        d = L.MaxPooling1D(2, strides=4, padding="same", name="mp1_same_s4")(seq)  # (3, 3) 0+1
        s = L.Concatenate(axis=1, name="cat_1d")([a, b, c, d])                 # (17, 3)
        out_1d = L.Dense(4, name="out_1d")(s)                                  # (17, 4)
        # 1D channels_first: seq read as (channels 9, steps 3)
        a = L.MaxPooling1D(2, data_format="channels_first", name="mp1_cf")(seq)  # (9, 1)
        b = L.AveragePooling1D(2, strides=1, padding="same", data_format="channels_first",
                               name="ap1_cf_same")(seq)                        # (9, 3) 0+1
        pool1_cf = L.Concatenate(name="pool1_cf")([a, b])                      # (9, 4)
        # 2D channels_last (rows 7, cols 8, channels 3)
        a = L.AveragePooling2D(2, padding="same", name="ap2_same")(img)        # (4, 4, 3) rows 0+1
        b = L.MaxPooling2D(3, strides=2, padding="same",
                           name="mp2_same_p3s2")(img)                          # (4, 4, 3) 1+1 0+1
        c = L.AveragePooling2D(3, strides=2, padding="same",
                               name="ap2_same_p3s2")(img)                      # (4, 4, 3) 1+1 0+1
        pool2_same = L.Concatenate(name="pool2_same")([a, b, c])               # (4, 4, 9)
        a = L.MaxPooling2D(2, name="mp2_default")(img)                         # (3, 4, 3)
        b = L.AveragePooling2D((2, 3), strides=(3, 2), padding="same",
                               name="ap2_rect_same")(img)                      # (3, 4, 3) 0+1 0+1
        pool2_mix = L.Concatenate(name="pool2_mix")([a, b])                    # (3, 4, 6)
        a = L.MaxPooling2D((2, 3), name="mp2_rect")(img)                       # (3, 2, 3)
        b = L.AveragePooling2D((2, 3), strides=1, name="ap2_rect_s1")(img)     # (6, 6, 3)
        c = L.MaxPooling2D(2, strides=3, name="mp2_s3")(img)                   # (2, 3, 3)
        d = L.MaxPooling2D((3, 2), strides=(1, 3), padding="same",
                           name="mp2_rect_same")(img)                          # (7, 3, 3) 1+1 0+0
        s = L.Concatenate(name="cat_2d")([L.Flatten(name="flat_mp2_rect")(a),
                                          L.Flatten(name="flat_ap2_rect_s1")(b),
                                          L.Flatten(name="flat_mp2_s3")(c),
                                          L.Flatten(name="flat_mp2_rect_same")(d)])  # (207,)
        out_2d = L.Dense(6, name="out_2d")(s)                                  # (6,)
        # 2D channels_first: img read as (channels 7, rows 8, cols 3)
        a = L.MaxPooling2D((3, 2), strides=(2, 1), padding="same", data_format="channels_first",
                           name="mp2_cf_same")(img)                            # (7, 4, 3) 0+1 0+1
        b = L.AveragePooling2D(2, padding="same", data_format="channels_first",
                               name="ap2_cf_same")(img)                        # (7, 4, 2) 0+0 0+1
        pool2_cf = L.Concatenate(name="pool2_cf")([a, b])                      # (7, 4, 5)
        c = L.AveragePooling2D((3, 2), strides=(2, 1), data_format="channels_first",
                               name="ap2_cf_valid")(img)                       # (7, 3, 2)
        out_2d_cf = L.Dense(3, name="out_2d_cf")(c)                            # (7, 3, 3)
        # 3D channels_last (dims 5, 6, 4, channels 2)
        a = L.AveragePooling3D(2, padding="same",
                               name="ap3_same")(vol)                     # (3, 3, 2, 2) 0+1 0+0 0+0
        b = L.MaxPooling3D((3, 2, 3), strides=2, padding="same",
                           name="mp3_same")(vol)                         # (3, 3, 2, 2) 1+1 0+0 0+1
        pool3_same = L.Concatenate(name="pool3_same")([a, b])                  # (3, 3, 2, 4)
        ap3_same_rect = L.AveragePooling3D((2, 3, 2), strides=(1, 2, 3), padding="same",
                                           name="ap3_same_rect")(vol)  # (5, 3, 2, 2) 0+1 x 3
        a = L.MaxPooling3D(2, name="mp3_default")(vol)                         # (2, 3, 2, 2)
        b = L.MaxPooling3D(2, strides=1, name="mp3_s1")(vol)                   # (4, 5, 3, 2)
        c = L.AveragePooling3D((3, 2, 2), strides=(2, 3, 1),
                               name="ap3_valid_s")(vol)                        # (2, 2, 3, 2)
        s = L.Concatenate(name="cat_3d")([L.Flatten(name="flat_mp3_default")(a),
                                          L.Flatten(name="flat_mp3_s1")(b),
                                          L.Flatten(name="flat_ap3_valid_s")(c)])  # (168,)
        out_3d = L.Dense(4, activation="tanh", name="out_3d")(s)               # (4,)
        # 3D channels_first: vol read as (channels 5, dims 6, 4, 2)
        a = L.MaxPooling3D(2, data_format="channels_first", name="mp3_cf")(vol)  # (5, 3, 2, 1)
        b = L.AveragePooling3D((3, 2, 2), strides=(2, 1, 2), padding="same",
                               data_format="channels_first",
                               name="ap3_cf_same")(vol)                  # (5, 3, 4, 1) 0+1 0+1 0+0
        pool3_cf = L.Concatenate(axis=3, name="pool3_cf")([a, b])              # (5, 3, 6, 1)
        c = L.MaxPooling3D(2, strides=(2, 2, 1), padding="same", data_format="channels_first",
                           name="mp3_cf_same")(vol)                      # (5, 3, 2, 2) 0+0 0+0 0+1
        out_3d_cf = L.Dense(3, name="out_3d_cf")(c)                            # (5, 3, 2, 3)
        # global pooling: each class channels_last and channels_first, keepdims False and True
        g = [L.GlobalMaxPooling1D(name="gmp1")(seq),                           # (3,)
             L.GlobalAveragePooling1D(data_format="channels_first", name="gap1_cf")(seq),  # (9,)
             L.GlobalMaxPooling2D(name="gmp2")(img),                           # (3,)
             L.GlobalAveragePooling2D(data_format="channels_first", name="gap2_cf")(img),  # (7,)
             L.GlobalMaxPooling3D(name="gmp3")(vol),                           # (2,)
             L.GlobalAveragePooling3D(data_format="channels_first", name="gap3_cf")(vol)]  # (5,)
        global_vec = L.Concatenate(name="global_vec")(g)                       # (29,)
        gmp1_cf_keep = L.GlobalMaxPooling1D(data_format="channels_first", keepdims=True,
                                            name="gmp1_cf_keep")(seq)          # (9, 1)
        a = L.GlobalAveragePooling1D(keepdims=True, name="gap1_keep")(seq)     # (1, 3)
        out_gap1_keep = L.Dense(2, name="out_gap1_keep")(a)                    # (1, 2)
        gmp2_cf_keep = L.GlobalMaxPooling2D(data_format="channels_first", keepdims=True,
                                            name="gmp2_cf_keep")(img)          # (7, 1, 1)
        gap2_keep = L.GlobalAveragePooling2D(keepdims=True, name="gap2_keep")(img)  # (1, 1, 3)
        gmp3_cf_keep = L.GlobalMaxPooling3D(data_format="channels_first", keepdims=True,
                                            name="gmp3_cf_keep")(vol)          # (5, 1, 1, 1)
        a = L.GlobalAveragePooling3D(keepdims=True, name="gap3_keep")(vol)     # (1, 1, 1, 2)
        out_gap3_keep = L.Dense(3, name="out_gap3_keep")(a)                    # (1, 1, 1, 3)
        outputs = [pool1_same, out_1d, pool1_cf, pool2_same, pool2_mix, out_2d, pool2_cf,
                   out_2d_cf, pool3_same, ap3_same_rect, out_3d, pool3_cf, out_3d_cf, global_vec,
                   gmp1_cf_keep, out_gap1_keep, gmp2_cf_keep, gap2_keep, gmp3_cf_keep,
                   out_gap3_keep]
        return K.Model([seq, img, vol], outputs, name="k_pool")

    def k_pool_seq():
        return K.Sequential([K.Input((8, 7, 3)),
                             L.MaxPooling2D(),                                 # (4, 3, 3)
                             L.AveragePooling2D(2, padding="same"),            # (2, 2, 3) cols 0+1
                             L.GlobalAveragePooling2D(), L.Dense(3)], name="k_pool_seq")

    specs += [
        Spec("k_pool", k_pool, chain=False,
             notes="3 inputs seq (9,3), img (7,8,3), vol (5,6,4,2); 20 outputs; MaxPooling1D/2D/3D "
                   "and AveragePooling1D/2D/3D with default strides, strides smaller and larger "
                   "than the pool, valid and same padding (same padding uneven: the extra goes "
                   "after), non-square pools, channels_last and channels_first (seq, img, vol read "
                   "as channels first); GlobalMaxPooling1D/2D/3D and GlobalAveragePooling1D/2D/3D "
                   "in both data formats with keepdims false and true; Concatenate, Flatten and "
                   "Dense after some of them; the layer configs and shapes are in "
                   "models/generate.py"),
        Spec("k_pool_seq", k_pool_seq,
             notes="Sequential MaxPooling2D() -> AveragePooling2D(padding='same') -> "
                   "GlobalAveragePooling2D -> Dense(3), default layer names"),
    ]

    # --- l: Conv1D/2D/3D ----------------------------------------------------------------------
    # Kernel sizes 1, 3 and non-square, strides 1, 2 and non-uniform, dilation 2 (stride 1),
    # "valid", "same" (padded unevenly: the extra goes after, e.g. 12 with kernel 2 stride 1 pads
    # (0, 1), 12 with kernel 3 stride 2 pads (0, 1), 9 with kernel 2 stride 2 pads (0, 1)) and
    # Conv1D "causal" (the whole padding before), groups 2 and 3 (1D, 2D, 3D), use_bias False,
    # activations linear, relu, tanh, gelu, silu, channels_last and channels_first (seq, img, vol
    # read as channels first); Add, Concatenate, Flatten and Dense after them. The comments give
    # shapes without the batch axis and, for "same"/"causal", the padding of each spatial axis as
    # before+after. Conv kernels get N(0,1)/sqrt(kernel volume * input channels / groups).
    def l_conv():
        seq = K.Input((12, 4), name="seq")
        img = K.Input((9, 8, 4), name="img")
        vol = K.Input((5, 6, 4, 2), name="vol")
        # 1D channels_last (steps 12, channels 4)
        a = L.Conv1D(3, 1, use_bias=False, name="c1_k1")(seq)                  # (12, 3)
        b = L.Conv1D(4, 2, padding="same", activation="tanh",
                     name="c1_k2_same")(seq)                                   # (12, 4) 0+1
        c = L.Conv1D(4, 3, padding="causal", name="c1_causal")(seq)            # (12, 4) 2+0
        d = L.Conv1D(4, 2, padding="causal", dilation_rate=2, activation="relu",
                     name="c1_causal_d2")(seq)                                 # (12, 4) 2+0
        e = L.Conv1D(6, 3, padding="same", groups=2, activation="silu",
                     name="c1_groups_same")(seq)                               # (12, 6) 1+1
        conv1_same = L.Concatenate(name="conv1_same")(
            [a, b, L.Add(name="add_1d")([c, d]), e])                           # (12, 17)
        a = L.Conv1D(3, 3, strides=2, name="c1_s2")(seq)                       # (5, 3)
        b = L.Conv1D(3, 3, dilation_rate=2, activation="tanh", name="c1_d2")(seq)  # (8, 3)
        s = L.Concatenate(axis=1, name="cat_1d")([a, b])                       # (13, 3)
        out_1d = L.Dense(4, name="out_1d")(s)                                  # (13, 4)
        a = L.Conv1D(3, 3, strides=2, padding="same", name="c1_s2_same")(seq)  # (6, 3) 0+1
        b = L.Conv1D(3, 4, strides=2, padding="same", use_bias=False,
                     name="c1_k4s2_same")(seq)                                 # (6, 3) 1+1
        c = L.Conv1D(6, 2, strides=2, groups=2, activation="relu",
                     name="c1_groups_s2")(seq)                                 # (6, 6)
        conv1_s2 = L.Concatenate(name="conv1_s2")([a, b, c])                   # (6, 12)
        # 1D channels_first: seq read as (channels 12, steps 4)
        a = L.Conv1D(5, 3, padding="same", data_format="channels_first",
                     name="c1_cf_same")(seq)                                   # (5, 4) 1+1
        b = L.Conv1D(6, 2, padding="causal", groups=3, data_format="channels_first",
                     name="c1_cf_causal_groups")(seq)                          # (6, 4) 1+0
        conv1_cf = L.Concatenate(axis=1, name="conv1_cf")([a, b])              # (11, 4)
        c = L.Conv1D(4, 2, dilation_rate=2, activation="relu", data_format="channels_first",
                     name="c1_cf_d2")(seq)                                     # (4, 2)
        out_1d_cf = L.Dense(3, name="out_1d_cf")(c)                            # (4, 3)
        # 2D channels_last (rows 9, cols 8, channels 4)
        a = L.Conv2D(3, 1, activation="relu", name="c2_k1")(img)               # (9, 8, 3)
        b = L.Conv2D(4, 3, padding="same", use_bias=False,
                     name="c2_k3_same")(img)                                   # (9, 8, 4) 1+1 1+1
        c = L.Conv2D(4, 2, padding="same", activation="tanh",
                     name="c2_k2_same")(img)                                   # (9, 8, 4) 0+1 0+1
        d = L.Conv2D(4, (3, 2), dilation_rate=(2, 1), padding="same",
                     name="c2_d21_same")(img)                                  # (9, 8, 4) 2+2 0+1
        e = L.Conv2D(6, 3, groups=2, padding="same", activation="gelu",
                     name="c2_groups_same")(img)                               # (9, 8, 6) 1+1 1+1
        conv2_same = L.Concatenate(name="conv2_same")(
            [a, L.Add(name="add_2d")([b, c, d]), e])                           # (9, 8, 13)
        a = L.Conv2D(5, (2, 3), strides=2, padding="same",
                     name="c2_rect_s2_same")(img)                              # (5, 4, 5) 0+1 0+1
        b = L.Conv2D(5, 3, strides=2, padding="same", activation="relu",
                     name="c2_s2_same")(img)                                   # (5, 4, 5) 1+1 0+1
        conv2_s2_same = L.Concatenate(name="conv2_s2_same")([a, b])            # (5, 4, 10)
        a = L.Conv2D(3, (2, 3), strides=(2, 1), name="c2_rect_s21")(img)       # (4, 6, 3)
        b = L.Conv2D(3, 3, dilation_rate=2, activation="silu", name="c2_d2")(img)  # (5, 4, 3)
        c = L.Conv2D(4, 3, strides=2, name="c2_s2")(img)                       # (4, 3, 4)
        d = L.Conv2D(6, (2, 3), strides=2, groups=2, use_bias=False,
                     name="c2_groups_s2")(img)                                 # (4, 3, 6)
        s = L.Concatenate(name="cat_2d")([L.Flatten(name="flat_c2_rect_s21")(a),
                                          L.Flatten(name="flat_c2_d2")(b),
                                          L.Flatten(name="flat_c2_s2")(c),
                                          L.Flatten(name="flat_c2_groups_s2")(d)])  # (252,)
        out_2d = L.Dense(6, name="out_2d")(s)                                  # (6,)
        # 2D channels_first: img read as (channels 9, rows 8, cols 4)
        conv2_cf = L.Conv2D(4, (3, 2), strides=(2, 1), padding="same",
                            data_format="channels_first",
                            name="conv2_cf")(img)                              # (4, 4, 4) 0+1 0+1
        a = L.Conv2D(6, 2, dilation_rate=2, groups=3, activation="tanh",
                     data_format="channels_first", name="c2_cf_groups_d2")(img)  # (6, 6, 2)
        out_2d_cf = L.Dense(3, name="out_2d_cf")(a)                            # (6, 6, 3)
        # 3D channels_last (dims 5, 6, 4, channels 2)
        a = L.Conv3D(3, 1, name="c3_k1")(vol)                                  # (5, 6, 4, 3)
        b = L.Conv3D(3, (3, 1, 2), padding="same", activation="relu",
                     name="c3_rect_same")(vol)                     # (5, 6, 4, 3) 1+1 0+0 0+1
        c = L.Conv3D(4, 3, groups=2, padding="same", name="c3_groups_same")(vol)  # (5, 6, 4, 4)
        conv3_same = L.Concatenate(name="conv3_same")(
            [L.Add(name="add_3d")([a, b]), c])                                 # (5, 6, 4, 7)
        a = L.Conv3D(3, 3, strides=2, padding="same",
                     name="c3_s2_same")(vol)                       # (3, 3, 2, 3) 1+1 0+1 0+1
        b = L.Conv3D(3, (3, 1, 2), strides=(2, 1, 1), activation="tanh",
                     name="c3_rect_s211")(vol)                                 # (2, 6, 3, 3)
        c = L.Conv3D(2, 2, dilation_rate=2, use_bias=False, name="c3_d2")(vol)  # (3, 4, 2, 2)
        s = L.Concatenate(name="cat_3d")([L.Flatten(name="flat_c3_s2_same")(a),
                                          L.Flatten(name="flat_c3_rect_s211")(b),
                                          L.Flatten(name="flat_c3_d2")(c)])    # (210,)
        out_3d = L.Dense(4, activation="tanh", name="out_3d")(s)               # (4,)
        # 3D channels_first: vol read as (channels 5, dims 6, 4, 2)
        conv3_cf = L.Conv3D(4, (3, 2, 1), padding="same", activation="tanh",
                            data_format="channels_first",
                            name="conv3_cf")(vol)                  # (4, 6, 4, 2) 1+1 0+1 0+0
        a = L.Conv3D(3, 2, strides=(2, 1, 1), data_format="channels_first",
                     name="c3_cf_s211")(vol)                                   # (3, 3, 3, 1)
        out_3d_cf = L.Dense(2, name="out_3d_cf")(a)                            # (3, 3, 3, 2)
        outputs = [conv1_same, out_1d, conv1_s2, conv1_cf, out_1d_cf, conv2_same, conv2_s2_same,
                   out_2d, conv2_cf, out_2d_cf, conv3_same, out_3d, conv3_cf, out_3d_cf]
        return K.Model([seq, img, vol], outputs, name="l_conv")

    def l_conv_seq():
        return K.Sequential([K.Input((8, 8, 3)),
                             L.Conv2D(4, 3, padding="same", activation="relu"),  # (8, 8, 4)
                             L.Conv2D(6, (2, 3), strides=2),                   # (4, 3, 6)
                             L.Flatten(), L.Dense(3)], name="l_conv_seq")

    specs += [
        Spec("l_conv", l_conv, chain=False,
             notes="3 inputs seq (12,4), img (9,8,4), vol (5,6,4,2); 14 outputs; Conv1D/2D/3D with "
                   "kernel sizes 1, 3 and non-square, strides 1, 2 and non-uniform, dilation 2 "
                   "(stride 1), valid and same padding (same padding uneven: the extra goes "
                   "after), Conv1D causal padding with and without dilation, groups 2 and 3 in "
                   "1D, 2D and 3D, use_bias false, activations linear, relu, tanh, gelu and silu, "
                   "channels_last and channels_first in 1D, 2D and 3D (seq, img, vol read as "
                   "channels first); Add, Concatenate, Flatten and Dense after them; the layer "
                   "configs and shapes are in models/generate.py"),
        Spec("l_conv_seq", l_conv_seq,
             notes="Sequential Conv2D(4, 3, padding='same', activation='relu') -> "
                   "Conv2D(6, (2, 3), strides=2) -> Flatten -> Dense(3), default layer names"),
    ]

    # DepthwiseConv1D/2D (each input channel convolved with depth_multiplier kernels of its own;
    # output channel c*depth_multiplier+m from input channel c) and SeparableConv1D/2D (that
    # depthwise step without bias or activation, then a 1x1 pointwise convolution to `filters`,
    # then bias and activation): depth_multiplier 1, 2 and 3, strides 1, 2 and (2, 1), dilation 2
    # (every axis) at stride 1, "valid" and "same" (padded unevenly: 12 with kernel 2 stride 1, 12
    # with kernel 3 stride 2, 9 with kernel 2 stride 2, 8 with kernel 3 stride 2, 4 with kernel 2
    # stride 1), use_bias False, activations linear, relu, tanh, channels_last and channels_first
    # (seq read as (channels 12, steps 4), img as (channels 9, rows 8, cols 4)); Concatenate,
    # Flatten and Dense after them. Comments as in l_conv. Depthwise kernels get N(0,1)/sqrt(taps),
    # pointwise kernels N(0,1)/sqrt(in_channels * depth_multiplier).
    def m_depthwise():
        seq = K.Input((12, 4), name="seq")
        img = K.Input((9, 8, 4), name="img")
        # 1D channels_last (steps 12, channels 4)
        a = L.DepthwiseConv1D(2, padding="same", depth_multiplier=2, activation="relu",
                              name="dw1_k2_same_m2")(seq)                     # (12, 8) 0+1
        b = L.SeparableConv1D(5, 3, padding="same", activation="relu",
                              name="sp1_same")(seq)                           # (12, 5) 1+1
        sep1_same = L.Concatenate(name="sep1_same")([a, b])                  # (12, 13)
        a = L.DepthwiseConv1D(3, strides=2, padding="same", depth_multiplier=3,
                              activation="tanh", name="dw1_s2_same_m3")(seq)  # (6, 12) 0+1
        b = L.SeparableConv1D(6, 2, strides=2, depth_multiplier=2, use_bias=False,
                              name="sp1_s2_m2")(seq)                          # (6, 6)
        sep1_s2 = L.Concatenate(name="sep1_s2")([a, b])                      # (6, 18)
        dw1_d2_m2 = L.DepthwiseConv1D(3, dilation_rate=2, depth_multiplier=2,
                                      name="dw1_d2_m2")(seq)                  # (8, 8)
        a = L.DepthwiseConv1D(3, use_bias=False, name="dw1_k3")(seq)         # (10, 4)
        b = L.SeparableConv1D(4, 3, dilation_rate=2, activation="tanh",
                              name="sp1_d2")(seq)                             # (8, 4)
        out_1d = L.Dense(3, name="out_1d")(
            L.Concatenate(axis=1, name="cat_1d")([a, b]))                    # (18, 3)
        # 2D channels_last (rows 9, cols 8, channels 4)
        a = L.DepthwiseConv2D(2, padding="same", depth_multiplier=2,
                              name="dw2_k2_same_m2")(img)                     # (9, 8, 8) 0+1 0+1
        b = L.SeparableConv2D(6, 3, padding="same", depth_multiplier=2, activation="relu",
                              name="sp2_same_m2")(img)                        # (9, 8, 6) 1+1 1+1
        sep2_same = L.Concatenate(name="sep2_same")([a, b])                  # (9, 8, 14)
        a = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2,
                              activation="tanh", name="dw2_s2_same_m2")(img)  # (5, 4, 8) 1+1 0+1
        b = L.SeparableConv2D(5, 2, strides=2, padding="same", use_bias=False,
                              name="sp2_s2_same")(img)                        # (5, 4, 5) 0+1 0+0
        sep2_s2 = L.Concatenate(name="sep2_s2")([a, b])                      # (5, 4, 13)
        a = L.DepthwiseConv2D(3, activation="relu", name="dw2_k3")(img)      # (7, 6, 4)
        b = L.DepthwiseConv2D((3, 2), dilation_rate=2, use_bias=False,
                              name="dw2_d2")(img)                             # (5, 6, 4)
        c = L.DepthwiseConv2D((2, 3), strides=(2, 1), name="dw2_rect_s21")(img)  # (4, 6, 4)
        d = L.SeparableConv2D(4, 3, dilation_rate=2, activation="tanh",
                              name="sp2_d2")(img)                             # (5, 4, 4)
        e = L.SeparableConv2D(3, (3, 2), strides=2, depth_multiplier=2,
                              name="sp2_rect_s2_m2")(img)                     # (4, 4, 3)
        s = L.Concatenate(name="cat_2d")([L.Flatten(name="flat_dw2_k3")(a),
                                          L.Flatten(name="flat_dw2_d2")(b),
                                          L.Flatten(name="flat_dw2_rect_s21")(c),
                                          L.Flatten(name="flat_sp2_d2")(d),
                                          L.Flatten(name="flat_sp2_rect_s2_m2")(e)])  # (512,)
        out_2d = L.Dense(5, name="out_2d")(s)                                 # (5,)
        # channels_first: seq read as (channels 12, steps 4), img as (channels 9, rows 8, cols 4)
        a = L.DepthwiseConv1D(3, padding="same", depth_multiplier=2, data_format="channels_first",
                              name="dw1_cf_same_m2")(seq)                     # (24, 4) 1+1
        b = L.SeparableConv1D(6, 2, padding="same", data_format="channels_first",
                              name="sp1_cf_same")(seq)                        # (6, 4) 0+1
        sep1_cf = L.Concatenate(axis=1, name="sep1_cf")([a, b])              # (30, 4)
        dw2_cf_same = L.DepthwiseConv2D(3, padding="same", data_format="channels_first",
                                        name="dw2_cf_same")(img)              # (9, 8, 4) 1+1 1+1
        sp2_cf_s2_m2 = L.SeparableConv2D(4, 2, strides=2, depth_multiplier=2, activation="relu",
                                         data_format="channels_first",
                                         name="sp2_cf_s2_m2")(img)            # (4, 4, 2)
        outputs = [sep1_same, sep1_s2, dw1_d2_m2, out_1d, sep1_cf,
                   sep2_same, sep2_s2, out_2d, dw2_cf_same, sp2_cf_s2_m2]
        return K.Model([seq, img], outputs, name="m_depthwise")

    def m_depthwise_seq():
        return K.Sequential([K.Input((8, 8, 3)),
                             L.DepthwiseConv2D(3, padding="same", depth_multiplier=2,
                                               activation="relu"),             # (8, 8, 6)
                             L.SeparableConv2D(5, 3, strides=2),               # (3, 3, 5)
                             L.GlobalAveragePooling2D(), L.Dense(3)], name="m_depthwise_seq")

    specs += [
        Spec("m_depthwise", m_depthwise, chain=False,
             notes="2 inputs seq (12,4), img (9,8,4); 10 outputs; DepthwiseConv1D/2D with "
                   "depth_multiplier 1, 2 and 3, SeparableConv1D/2D with depth_multiplier 1 and "
                   "2, kernel sizes 2, 3 and non-square, strides 1, 2 and (2,1), dilation 2 "
                   "(stride 1), valid and same padding (same padding uneven: the extra goes "
                   "after), use_bias false, activations linear, relu and tanh, channels_last and "
                   "channels_first in 1D and 2D (seq, img read as channels first); Concatenate, "
                   "Flatten and Dense after them; the layer configs and shapes are in "
                   "models/generate.py"),
        Spec("m_depthwise_seq", m_depthwise_seq,
             notes="Sequential DepthwiseConv2D(3, padding='same', depth_multiplier=2, "
                   "activation='relu') -> SeparableConv2D(5, 3, strides=2) -> "
                   "GlobalAveragePooling2D -> Dense(3), default layer names"),
    ]

    # --- n: Conv1DTranspose/2D/3D ---------------------------------------------------------------
    # Kernel sizes 2, 3 and non-square, strides 1, 2, 3 and non-uniform ((2,1), (2,1,2)), "valid"
    # and "same", output_padding (always < strides) with both paddings, dilation 2 at stride 1,
    # use_bias False, activations linear, relu, tanh, channels_last and channels_first; every
    # layer is an output of its own. Output length per spatial axis (k' = (k-1)*dilation+1,
    # op = output_padding):
    #   valid: (in-1)*s + k' + op, op None -> (in-1)*s + max(k', s)
    #   same:  op None -> in*s;  op given -> (in-1)*s + k'%2 + op
    # tf-keras 2.21 on the CPU rejects Conv1DTranspose with channels_first or dilation > 1,
    # Conv2DTranspose with unequal dilation rates and Conv3DTranspose with channels_first, and
    # ignores (and drops from its config) a Conv3DTranspose dilation_rate; it also rejects "same"
    # with an output_padding whose length a "same" convolution does not map back to the input
    # length (ceil(out/s) != in; none here). So the *_k3only layers are built by the k3 writer
    # only, as extra outputs; the other outputs are the same in both writers. Transposed kernels
    # (*kernel_size, filters, in_channels) get N(0,1)/sqrt(taps * in_channels). The comments give
    # shapes without the batch axis.
    n_k3_only = []

    def n_transpose():
        seq = K.Input((5, 2), name="seq")
        img = K.Input((4, 3, 2), name="img")
        vol = K.Input((2, 2, 2, 2), name="vol")
        outputs = [
            # 1D channels_last (steps 5, channels 2)
            L.Conv1DTranspose(3, 3, name="t1_k3")(seq),                         # (7, 3)
            L.Conv1DTranspose(3, 3, strides=2, padding="same", activation="relu",
                              name="t1_k3_s2_same")(seq),                       # (10, 3)
            L.Conv1DTranspose(2, 2, strides=3, name="t1_k2_s3")(seq),           # (15, 2)
            L.Conv1DTranspose(2, 3, strides=2, padding="same", output_padding=0,
                              use_bias=False, name="t1_k3_s2_same_op0")(seq),   # (9, 2)
            # 2D channels_last (rows 4, cols 3, channels 2)
            L.Conv2DTranspose(3, (2, 3), padding="same", activation="relu",
                              name="t2_rect_same")(img),                        # (4, 3, 3)
            L.Conv2DTranspose(2, 3, dilation_rate=2, padding="same", activation="tanh",
                              name="t2_d2_same")(img),                          # (4, 3, 2)
            L.Conv2DTranspose(2, (2, 3), dilation_rate=2, name="t2_rect_d2")(img),  # (6, 7, 2)
            L.Conv2DTranspose(2, 3, strides=2, padding="same", name="t2_s2_same")(img),  # (8, 6, 2)
            L.Conv2DTranspose(2, (3, 2), strides=(2, 1), padding="same", use_bias=False,
                              activation="tanh", name="t2_rect_s21_same")(img),  # (8, 3, 2)
            L.Conv2DTranspose(2, 2, strides=2, padding="same", output_padding=1,
                              activation="relu", name="t2_k2_s2_same_op1")(img),  # (7, 5, 2)
            L.Conv2DTranspose(2, (2, 3), strides=(2, 1), output_padding=(1, 0),
                              name="t2_rect_s21_op10")(img),                    # (9, 5, 2)
            # 2D channels_first: img read as (channels 4, rows 3, cols 2)
            L.Conv2DTranspose(3, 3, strides=2, padding="same", data_format="channels_first",
                              name="t2_cf_s2_same")(img),                       # (3, 6, 4)
            # 3D channels_last (dims 2, 2, 2, channels 2)
            L.Conv3DTranspose(2, 3, padding="same", activation="relu",
                              name="t3_same")(vol),                             # (2, 2, 2, 2)
            L.Conv3DTranspose(2, 2, strides=(2, 1, 2), use_bias=False,
                              name="t3_s212")(vol),                             # (4, 3, 4, 2)
            L.Conv3DTranspose(2, (3, 2, 2), strides=2, padding="same", output_padding=1,
                              activation="tanh", name="t3_rect_s2_same_op1")(vol),  # (4, 3, 3, 2)
        ]
        if k3:
            n_k3_only[:] = ["t1_d2_same_k3only", "t1_cf_s2_op1_k3only", "t2_d21_same_k3only",
                            "t3_d2_k3only", "t3_cf_s211_same_k3only"]
            outputs += [
                L.Conv1DTranspose(2, 3, dilation_rate=2, padding="same",
                                  name="t1_d2_same_k3only")(seq),               # (5, 2)
                # seq read as (channels 5, steps 2)
                L.Conv1DTranspose(2, 3, strides=2, output_padding=1, activation="relu",
                                  data_format="channels_first",
                                  name="t1_cf_s2_op1_k3only")(seq),             # (2, 6)
                L.Conv2DTranspose(2, (2, 3), dilation_rate=(2, 1), padding="same",
                                  name="t2_d21_same_k3only")(img),              # (4, 3, 2)
                L.Conv3DTranspose(2, (2, 1, 2), dilation_rate=2,
                                  name="t3_d2_k3only")(vol),                    # (4, 2, 4, 2)
                # vol read as (channels 2, dims 2, 2, 2)
                L.Conv3DTranspose(2, 2, strides=(2, 1, 1), padding="same",
                                  data_format="channels_first",
                                  name="t3_cf_s211_same_k3only")(vol),          # (2, 4, 2, 2)
            ]
        return K.Model([seq, img, vol], outputs, name="n_transpose")

    def n_transpose_seq():
        return K.Sequential([K.Input((16,)),
                             L.Dense(32),                                      # (32,)
                             L.Reshape((2, 2, 8)),                             # (2, 2, 8)
                             L.Conv2DTranspose(6, 3, strides=2, padding="same",
                                               activation="relu"),             # (4, 4, 6)
                             L.Conv2DTranspose(3, 4, strides=2, padding="same",
                                               activation="tanh")],            # (8, 8, 3)
                            name="n_transpose_seq")

    specs += [
        Spec("n_transpose", n_transpose, chain=False, order=k3_only_last(n_k3_only),
             notes="3 inputs seq (5,2), img (4,3,2), vol (2,2,2,2); %d outputs, one per layer; "
                   "Conv1DTranspose/2D/3D with kernel sizes 2, 3 and non-square, strides 1, 2, 3 "
                   "and non-uniform ((2,1), (2,1,2)), valid and same padding, output_padding "
                   "with both paddings, dilation 2 at stride 1 (2D), use_bias false, activations "
                   "linear, relu and tanh, channels_first in 2D (img read as channels first); "
                   "the layer configs and shapes are in models/generate.py; %s" % (
                       20 if k3 else 15,
                       "k3 only, as 5 extra outputs (*_k3only): Conv1DTranspose with dilation 2 "
                       "and with channels_first, Conv2DTranspose with dilation (2,1), "
                       "Conv3DTranspose with dilation 2 and with channels_first (tf-keras rejects "
                       "or ignores them on the CPU)" if k3 else
                       "NO *_k3only outputs (tf-keras rejects Conv1DTranspose dilation and "
                       "channels_first, Conv2DTranspose unequal dilations and Conv3DTranspose "
                       "channels_first on the CPU, and ignores Conv3DTranspose dilation)")),
        Spec("n_transpose_seq", n_transpose_seq,
             notes="Sequential DCGAN-like generator Dense(32) -> Reshape((2,2,8)) -> "
                   "Conv2DTranspose(6, 3, strides=2, padding='same', activation='relu') -> "
                   "Conv2DTranspose(3, 4, strides=2, padding='same', activation='tanh'), "
                   "default layer names"),
    ]

    # --- o: UpSampling1D/2D/3D, Resizing, CenterCrop, RepeatVector, Flatten channels_first ------
    # UpSampling nearest (each row/column repeated) and bilinear (2D), sizes 2, 3 and non-uniform,
    # channels_last and channels_first; Resizing nearest and bilinear, down (9x8 -> 5x7) and up
    # (9x8 -> 13x11), crop_to_aspect_ratio (center crop to the target's aspect ratio, then
    # resize); CenterCrop smaller than the input (from (in - out) // 2) and larger in one or both
    # axes (Keras then resizes instead: crop to the target's aspect ratio, bilinear resize);
    # RepeatVector; Flatten(data_format="channels_first") of a 3-D and a 4-D tensor (the channels
    # axis moved first before flattening) and a Dense after it. tf-keras 2.21's Resizing has no
    # data_format and no pad_to_aspect_ratio and its CenterCrop no data_format: the *_k3only
    # layers are built by the k3 writer only, as extra outputs; the other outputs are the same in
    # both writers. Every layer is an output of its own (but for the Flatten -> Dense pair). The
    # comments give shapes without the batch axis.
    def o_resample():
        seq = K.Input((4, 2), name="seq")
        img = K.Input((3, 2, 2), name="img")
        pic = K.Input((9, 8, 1), name="pic")
        vol = K.Input((2, 2, 2, 1), name="vol")
        vec = K.Input((4,), name="vec")
        flat_cf_4d = L.Flatten(data_format="channels_first", name="flat_cf_4d")(img)  # (12,)
        outputs = [
            # (steps 4, channels 2)
            L.UpSampling1D(name="up1_default")(seq),                           # (8, 2)
            L.UpSampling1D(3, name="up1_3")(seq),                              # (12, 2)
            # (rows 3, cols 2, channels 2)
            L.UpSampling2D(name="up2_default")(img),                           # (6, 4, 2)
            L.UpSampling2D(interpolation="bilinear", name="up2_bilinear")(img),  # (6, 4, 2)
            L.UpSampling2D((3, 2), interpolation="bilinear",
                           name="up2_32_bilinear")(img),                       # (9, 4, 2)
            # img read as (channels 3, rows 2, cols 2)
            L.UpSampling2D((3, 2), data_format="channels_first",
                           name="up2_cf_32")(img),                             # (3, 6, 4)
            L.UpSampling2D((2, 3), interpolation="bilinear", data_format="channels_first",
                           name="up2_cf_23_bilinear")(img),                    # (3, 4, 6)
            # (dims 2, 2, 2, channels 1)
            L.UpSampling3D((1, 2, 3), name="up3_123")(vol),                    # (2, 4, 6, 1)
            # vol read as (channels 2, dims 2, 2, 1)
            L.UpSampling3D(data_format="channels_first",
                           name="up3_cf_default")(vol),                        # (2, 4, 4, 2)
            # (rows 9, cols 8, channels 1); "HxW at r, c": the crop that is resized, where it starts
            L.Resizing(5, 7, interpolation="nearest", name="rs_nearest_down")(pic),  # (5, 7, 1)
            L.Resizing(5, 7, name="rs_bilinear_down")(pic),                    # (5, 7, 1)
            L.Resizing(13, 11, interpolation="nearest", name="rs_nearest_up")(pic),  # (13, 11, 1)
            L.Resizing(13, 11, name="rs_bilinear_up")(pic),                    # (13, 11, 1)
            L.Resizing(5, 7, crop_to_aspect_ratio=True,
                       name="rs_crop_bilinear")(pic),                  # (5, 7, 1) 5x8 at 2, 0
            L.Resizing(4, 6, interpolation="nearest", crop_to_aspect_ratio=True,
                       name="rs_crop_nearest")(pic),                   # (4, 6, 1) 5x8 at 2, 0
            L.Resizing(12, 6, crop_to_aspect_ratio=True,
                       name="rs_crop_up")(pic),                        # (12, 6, 1) 9x4 at 0, 2
            L.CenterCrop(5, 4, name="cc_small")(pic),                  # (5, 4, 1) at 2, 2
            L.CenterCrop(6, 3, name="cc_odd")(pic),                    # (6, 3, 1) at 1, 2
            L.CenterCrop(11, 10, name="cc_large")(pic),                # (11, 10, 1) 8x8 at 0, 0
            L.CenterCrop(5, 11, name="cc_mixed")(pic),                 # (5, 11, 1) 3x8 at 3, 0
            L.RepeatVector(3, name="repeat")(vec),                             # (3, 4)
            L.Flatten(data_format="channels_first", name="flat_cf_3d")(seq),   # (8,)
            L.Dense(3, name="out_flat_cf")(flat_cf_4d),                        # (3,)
        ]
        if k3:
            outputs += [
                # img read as (channels 3, rows 2, cols 2)
                L.Resizing(3, 5, data_format="channels_first",
                           name="rs_cf_k3only")(img),                          # (3, 3, 5)
                L.Resizing(5, 1, interpolation="nearest", data_format="channels_first",
                           name="rs_cf_nearest_k3only")(img),                  # (3, 5, 1)
                L.Resizing(5, 7, pad_to_aspect_ratio=True,
                           name="rs_pad_k3only")(pic),                         # (5, 7, 1) 9x12
                L.Resizing(4, 3, pad_to_aspect_ratio=True, fill_value=0.5, interpolation="nearest",
                           name="rs_pad_fill_k3only")(pic),  # (4, 3, 1) 9x8: the 1-row pad
                                                             # halves to 0 each side: no padding
                L.Resizing(5, 3, pad_to_aspect_ratio=True, fill_value=0.5,
                           name="rs_pad_rows_k3only")(pic),                    # (5, 3, 1) 13x8
                # pic read as (channels 9, rows 8, cols 1)
                L.CenterCrop(4, 1, data_format="channels_first",
                             name="cc_cf_k3only")(pic)]                        # (9, 4, 1) at 2, 0
        return K.Model([seq, img, pic, vol, vec], outputs, name="o_resample")

    def o_resample_seq():
        return K.Sequential([K.Input((4, 4, 6)),
                             L.UpSampling2D(),                                 # (8, 8, 6)
                             L.Conv2D(4, 3, padding="same", activation="relu"),  # (8, 8, 4)
                             L.UpSampling2D(interpolation="bilinear"),         # (16, 16, 4)
                             L.Conv2D(2, 1),                                   # (16, 16, 2)
                             L.Flatten(), L.Dense(3)], name="o_resample_seq")

    specs += [
        Spec("o_resample", o_resample, chain=False,
             notes="5 inputs seq (4,2), img (3,2,2), pic (9,8,1), vol (2,2,2,1), vec (4,); %d "
                   "outputs, one per layer; UpSampling1D sizes 2 and 3, UpSampling2D sizes 2, "
                   "(3,2) and (2,3), nearest and bilinear, channels_last and channels_first "
                   "(img read as channels first), UpSampling3D (1,2,3) and channels_first 2; "
                   "Resizing nearest and bilinear 9x8 -> 5x7 and -> 13x11, crop_to_aspect_ratio "
                   "(bilinear 5x7 and 12x6, nearest 4x6); CenterCrop 5x4, 6x3 (odd margins), "
                   "11x10 and 5x11 (larger than the input in both / one axis: resized); "
                   "RepeatVector(3); Flatten channels_first of (4,2) and of (3,2,2) with a Dense "
                   "after it; the layer configs and shapes are in models/generate.py; %s" % (
                       29 if k3 else 23,
                       "k3 only, as 6 extra outputs (*_k3only): Resizing channels_first "
                       "(bilinear, nearest), Resizing pad_to_aspect_ratio (columns and rows "
                       "padded, fill_value 0 and 0.5, a 1-row pad that rounds to none), "
                       "CenterCrop channels_first (tf-keras has no such options)" if k3 else
                       "NO *_k3only outputs (tf-keras's Resizing has no data_format or "
                       "pad_to_aspect_ratio, its CenterCrop no data_format)")),
        Spec("o_resample_seq", o_resample_seq,
             notes="Sequential U-Net-decoder-like UpSampling2D() -> Conv2D(4, 3, padding='same', "
                   "activation='relu') -> UpSampling2D(interpolation='bilinear') -> Conv2D(2, 1) "
                   "-> Flatten -> Dense(3), default layer names"),
    ]

    # --- p: preprocessing, normalisation and inference-time identities ----------------------------
    # Rescaling (x * scale + offset; scalars and per-channel lists); Normalization
    # ((x - mean) / max(sqrt(variance), 1e-7), or with invert=True mean + x * max(sqrt(variance),
    # 1e-7)) with mean and variance given (axis -1 with a zero variance; axis None with scalars,
    # inverted) and adapted (weights mean, variance, count; axis -1 and axis 1, one inverted);
    # GroupNormalization with groups 1, 2, -1 (one per channel) and 4, epsilon 0.1, center and/or
    # scale off, axis -1 and axis 1 (img read as channels first); RMSNormalization (Keras 3
    # only: the extra output rms_k3only); ConvNeXt's LayerScale (x * gamma) and StochasticDepth
    # (the identity at inference); and a chain of layers that are the identity at inference
    # (RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomContrast,
    # RandomBrightness, Identity, GaussianNoise, GaussianDropout, AlphaDropout,
    # ActivityRegularization, SpatialDropout1D/2D/3D). Adapted Normalization layers are adapted
    # on seeded data (tf-keras counts it in `count`; Keras 3 leaves count 0), then their mean and
    # variance are redrawn like every weight (mean 0.5·N, variance U(0.25, 4)); LayerScale gamma
    # and RMSNormalization scale are drawn like a gamma. Keras 3's legacy .h5 loader drops an
    # `axis` of several (or no) entries (as for LayerNormalization), so no adapted Normalization
    # here has one. The comments give shapes without the batch axis.
    if k3:
        from keras.src.applications import convnext
    else:
        from tf_keras.src.applications import convnext

    def adapted(layer, shape, seed):
        data = np.random.default_rng(seed).standard_normal((16,) + shape) * 2.0 + 1.0
        layer.adapt(data.astype(np.float32))
        return layer

    def p_preprocess(brightness=True):
        seq = K.Input((5, 4), name="seq")
        img = K.Input((4, 3, 4), name="img")
        vol = K.Input((2, 3, 2, 2), name="vol")
        # identities at inference, then LayerScale
        h = img
        chain = [L.RandomFlip(name="random_flip"),
                 L.RandomRotation(0.2, name="random_rotation"),
                 L.RandomZoom(0.2, 0.3, name="random_zoom"),
                 L.RandomTranslation(0.1, 0.2, name="random_translation"),
                 L.RandomContrast(0.3, name="random_contrast")]
        if brightness:
            chain.append(L.RandomBrightness(0.2, name="random_brightness"))
        chain += [L.Identity(name="identity"), L.GaussianNoise(0.5, name="gaussian_noise"),
                  L.GaussianDropout(0.3, name="gaussian_dropout"),
                  L.AlphaDropout(0.2, name="alpha_dropout"),
                  L.ActivityRegularization(l1=0.01, l2=0.02, name="activity_reg"),
                  L.SpatialDropout2D(0.3, name="spatial_dropout_2d"),
                  L.SpatialDropout2D(0.3, data_format="channels_first",
                                     name="spatial_dropout_2d_cf"),
                  convnext.StochasticDepth(0.2, name="stochastic_depth"),
                  convnext.LayerScale(0.1, 4, name="layer_scale")]
        for layer in chain:
            h = layer(h)
        outputs = [
            h,                                                                 # (4, 3, 4)
            # (rows 4, cols 3, channels 4)
            L.Rescaling(0.5, offset=0.25, name="rescale")(img),
            L.Rescaling([0.5, 2.0, -1.0, 1.5], offset=[0.1, -0.2, 0.3, 0.0],
                        name="rescale_ch")(img),
            L.Normalization(mean=[0.5, -1.0, 0.25, 0.0], variance=[1.0, 4.0, 0.25, 0.0],
                            name="norm_zero_var")(img),
            L.Normalization(axis=None, mean=0.5, variance=2.0, invert=True,
                            name="norm_scalar_invert")(img),
            adapted(L.Normalization(name="norm_adapt"), (4, 3, 4), 3101)(img),
            L.GroupNormalization(groups=1, name="gn_g1")(img),
            L.GroupNormalization(groups=2, epsilon=0.1, name="gn_g2_eps")(img),
            L.GroupNormalization(groups=-1, center=False, scale=False,
                                 name="gn_instance_plain")(img),
            # img read as (channels 4, rows 3, cols 4)
            L.GroupNormalization(groups=2, axis=1, name="gn_cf_g2")(img),
            # (steps 5, channels 4)
            adapted(L.Normalization(axis=1, invert=True, name="norm_ax1_adapt_invert"),
                    (5, 4), 3102)(L.SpatialDropout1D(0.2, name="spatial_dropout_1d")(seq)),
            L.GroupNormalization(groups=4, center=False, name="gn_seq_g4_nocenter")(seq),
            # (dims 2, 3, 2, channels 2)
            convnext.LayerScale(0.5, 2, name="layer_scale_vol")(
                L.GroupNormalization(groups=2, scale=False, name="gn_vol_noscale")(
                    L.SpatialDropout3D(0.3, name="spatial_dropout_3d")(vol))),  # (2, 3, 2, 2)
        ]
        if k3:
            outputs.append(L.RMSNormalization(epsilon=1e-3, name="rms_k3only")(img))  # (4, 3, 4)
        return K.Model([seq, img, vol], outputs, name="p_preprocess")

    def p_preprocess_seq():
        return K.Sequential([K.Input((8, 8, 3)),
                             L.Rescaling(1.0 / 127.5, offset=-1.0),
                             L.RandomFlip(),
                             L.Conv2D(4, 3),                                   # (6, 6, 4)
                             L.GroupNormalization(groups=2),
                             L.SpatialDropout2D(0.2),
                             L.GlobalAveragePooling2D(), L.Dense(3)], name="p_preprocess_seq")

    convnext_custom = {"LayerScale": convnext.LayerScale,
                       "StochasticDepth": convnext.StochasticDepth}
    specs += [
        Spec("p_preprocess", p_preprocess, chain=False, order=k3_only_last(["rms_k3only"]),
             load_custom=convnext_custom,
             # Keras 3.15.1 cannot write RandomBrightness to .h5: its legacy saver deep-copies the
             # config, and value_range is a TrackedList that does not deep-copy
             h5_build=(lambda: p_preprocess(brightness=False)) if k3 else None,
             h5_note="this .h5 has NO random_brightness layer (Keras 3.15.1 cannot save "
                     "RandomBrightness as .h5: its value_range TrackedList fails the legacy "
                     "saver's deepcopy), an identity at inference: same predictions",
             notes="3 inputs seq (5,4), img (4,3,4), vol (2,3,2,2); %d outputs; a chain of "
                   "layers that are the identity at inference (RandomFlip, RandomRotation, "
                   "RandomZoom, RandomTranslation, RandomContrast, RandomBrightness, Identity, "
                   "GaussianNoise, GaussianDropout, AlphaDropout, ActivityRegularization, "
                   "SpatialDropout2D twice, ConvNeXt StochasticDepth) ending in ConvNeXt "
                   "LayerScale (output layer_scale); Rescaling (scalar and per-channel "
                   "scale/offset), Normalization (given mean/variance on axis -1 with a zero "
                   "variance, axis None scalars inverted; adapted on axis -1, and on axis 1 "
                   "inverted after SpatialDropout1D), GroupNormalization (groups 1, 2, -1, 4, "
                   "epsilon 0.1, center and/or scale off, axis 1 on img read as channels first), "
                   "SpatialDropout3D -> GroupNormalization -> LayerScale; LayerScale and "
                   "StochasticDepth come from %s; the layer configs and shapes are in "
                   "models/generate.py; %s" % (
                       14 if k3 else 13,
                       "keras.src.applications.convnext (not registered: the .keras config "
                       "names that module and reloads as is, the .h5 only the class name and "
                       "needs custom_objects)" if k3 else
                       "tf_keras.src.applications.convnext (not registered: the .keras config "
                       "names that module, the .h5 only the class name; both need "
                       "custom_objects to reload)",
                       "RMSNormalization(epsilon=1e-3) as the extra output rms_k3only (Keras 3 "
                       "only)" if k3 else "NO rms_k3only output (tf-keras has no "
                       "RMSNormalization)")),
        Spec("p_preprocess_seq", p_preprocess_seq,
             notes="Sequential Rescaling(1/127.5, offset=-1) -> RandomFlip -> Conv2D(4, 3) -> "
                   "GroupNormalization(groups=2) -> SpatialDropout2D(0.2) -> "
                   "GlobalAveragePooling2D -> Dense(3), default layer names; input x64"),
    ]

    # Arithmetic written in the model without Python code: Keras 3's symbolic-op layers (Add,
    # Multiply, TrueDivide, GetItem, ... with their constants in the call) and tf-keras's
    # TFOpLambda / SlicingOpLambda layers (tf.math.*, tf.nn.*, with `y` as a keyword). The same
    # function in both writers; each result ends in a named linear Activation so that outputs
    # pair by name across the dialects.
    def q_op_layers():
        x = K.Input((4, 3), name="x")
        y = K.Input((4, 3), name="y")
        out = lambda name, t: L.Activation("linear", name=name)(t)
        hard_sigmoid = out("out_hard_sigmoid",
                           L.ReLU(6.0, name="relu6")(x + 3.0) * (1.0 / 6.0))
        if k3:
            ops = K.ops
            arith = [x - 0.5, 2.0 - x, x / 4.0, -x, x * y, x - y, ops.maximum(x, y)]
            unary = [ops.sigmoid(x), ops.tanh(y), ops.relu(x - y), ops.silu(x)]
            shaped = [ops.reshape(x[:, 1:3, :], (-1, 6)), ops.transpose(y, (0, 2, 1)),
                      ops.mean(x, axis=1, keepdims=True), ops.mean(y, axis=[1, 2])]
        else:
            import tensorflow as tf
            arith = [tf.math.subtract(x, 0.5), tf.math.subtract(2.0, x), tf.math.truediv(x, 4.0),
                     tf.math.negative(x), tf.math.multiply(x, y), tf.math.subtract(x, y),
                     tf.math.maximum(x, y)]
            unary = [tf.math.sigmoid(x), tf.math.tanh(y), tf.nn.relu(tf.math.subtract(x, y)),
                     tf.nn.silu(x)]
            shaped = [tf.reshape(x[:, 1:3, :], (-1, 6)), tf.transpose(y, (0, 2, 1)),
                      tf.math.reduce_mean(x, axis=1, keepdims=True),
                      tf.math.reduce_mean(y, axis=[1, 2])]
        names = ["out_sub_c", "out_c_sub", "out_div_c", "out_neg", "out_mul_xy", "out_sub_xy",
                 "out_max_xy", "out_sigmoid", "out_tanh", "out_relu_diff", "out_silu",
                 "out_slice_reshape", "out_transpose", "out_mean_keep", "out_mean"]
        outputs = [hard_sigmoid] + [out(n, t) for n, t in zip(names, arith + unary + shaped)]
        # A layer of an op's class name after the op: Keras 3 gives the layer, not the op, the
        # weights group `layers/add`.
        outputs.append(L.Add(name="add_layer")([x, y]))
        return K.Model([x, y], outputs, name="q_op_layers")

    specs.append(Spec(
        "q_op_layers", q_op_layers, chain=False,
        notes="2 inputs x, y (4, 3); arithmetic as op layers (Keras 3 symbolic ops, tf-keras "
              "TFOpLambda/SlicingOpLambda): relu6(x + 3) * (1/6), x - 0.5, 2 - x, x / 4, -x, "
              "x * y, x - y, maximum(x, y), sigmoid, tanh, relu(x - y), silu, "
              "reshape(x[:, 1:3, :], (-1, 6)), transpose(y, (0, 2, 1)), mean(x, axis 1, "
              "keepdims), mean(y, axes 1 and 2); each output a named linear Activation; then an "
              "Add layer 'add_layer' (after the op layer 'add' in Keras 3)"))

    # SimpleRNN, LSTM and GRU on one sequence input (steps 7, features 5): return_sequences
    # true and false, go_backwards, activation relu, recurrent_activation hard_sigmoid (Keras 3:
    # relu6(x + 3) / 6; tf-keras: clip(0.2 x + 0.5, 0, 1)), use_bias False, GRU reset_after
    # True (bias (2, 3 * units)) and False (bias (3 * units,)), and an LSTM -> GRU stack. Kernels
    # get N(0,1)/sqrt(features), recurrent kernels N(0,1)/sqrt(units), biases N(0,1)*0.1.
    def r_recurrent():
        seq = K.Input((7, 5), name="seq")
        outputs = [
            L.SimpleRNN(6, return_sequences=True, name="rnn_seq")(seq),        # (7, 6)
            L.SimpleRNN(4, activation="relu", go_backwards=True,
                        name="rnn_back")(seq),                                 # (4,)
            L.LSTM(5, return_sequences=True, name="lstm_seq")(seq),            # (7, 5)
            L.LSTM(3, go_backwards=True, return_sequences=True, activation="relu",
                   recurrent_activation="hard_sigmoid", name="lstm_hard")(seq),  # (7, 3)
            L.LSTM(4, use_bias=False, name="lstm_nobias")(seq),                # (4,)
            L.GRU(5, return_sequences=True, name="gru_seq")(seq),              # (7, 5)
            L.GRU(4, reset_after=False, go_backwards=True, name="gru_before")(seq),  # (4,)
            L.GRU(3, activation="relu", use_bias=False, return_sequences=True,
                  name="gru_relu")(seq),                                       # (7, 3)
            L.GRU(4, name="stack_b")(
                L.LSTM(6, return_sequences=True, name="stack_a")(seq)),        # (4,)
        ]
        return K.Model(seq, outputs, name="r_recurrent")

    def r_recurrent_seq():
        return K.Sequential([K.Input((6, 3)),
                             L.LSTM(8, return_sequences=True),                 # (6, 8)
                             L.GRU(6, return_sequences=True),                  # (6, 6)
                             L.SimpleRNN(5),                                   # (5,)
                             L.Dense(2)], name="r_recurrent_seq")

    specs += [
        Spec("r_recurrent", r_recurrent, chain=False,
             notes="1 input seq (7,5); 9 outputs; SimpleRNN(6, return_sequences) rnn_seq, "
                   "SimpleRNN(4, relu, go_backwards) rnn_back, LSTM(5, return_sequences) "
                   "lstm_seq, LSTM(3, go_backwards, return_sequences, relu, "
                   "recurrent_activation hard_sigmoid) lstm_hard, LSTM(4, use_bias false) "
                   "lstm_nobias, GRU(5, return_sequences, reset_after true) gru_seq, GRU(4, "
                   "reset_after false, go_backwards) gru_before, GRU(3, relu, use_bias false, "
                   "return_sequences) gru_relu, LSTM(6, return_sequences) stack_a -> GRU(4) "
                   "stack_b (output stack_b); recurrent kernels N(0,1)/sqrt(units); "
                   "hard_sigmoid is %s, so lstm_hard differs between the dialects" % (
                       "relu6(x + 3) / 6 in Keras 3" if k3 else
                       "clip(0.2 x + 0.5, 0, 1) in tf-keras")),
        Spec("r_recurrent_seq", r_recurrent_seq,
             notes="Sequential LSTM(8, return_sequences) -> GRU(6, return_sequences) -> "
                   "SimpleRNN(5) -> Dense(2), default layer names; input (6,3)"),
    ]

    # Embedding and Keras's masks. ids (9 steps, vocabulary 20, int32) are padded with 0 at the
    # end, at the start, in the middle, entirely (row 4) and all but one step (row 5); feats
    # (6, 4) have steps of all 0.0. Embedding(mask_zero=True) masks the 0 ids; the mask passes
    # through Dense, an Add of two masked tensors and LSTMs returning sequences, and is used by
    # LSTM, GRU, SimpleRNN (go_backwards) and GlobalAveragePooling1D (NaN for row 4: no real
    # step); Masking(0.0) masks feats' zero steps (its output is feats with them zeroed);
    # Embedding without mask_zero feeds a GRU unmasked.
    def s_masking():
        ids = K.Input((9,), dtype="int32", name="ids")
        feats = K.Input((6, 4), name="feats")
        emb = L.Embedding(20, 5, mask_zero=True, name="emb")(ids)                  # (9, 5)
        dense = L.Dense(5, activation="relu", name="m_dense")(emb)
        masked = L.Masking(0.0, name="masking")(feats)                            # (6, 4)
        stack = L.LSTM(4, return_sequences=True, name="m_lstm_a")(emb)
        outputs = [
            emb,
            L.LSTM(4, return_sequences=True, name="m_lstm_seq")(emb),                # (9, 4)
            L.GRU(3, name="m_gru")(emb),                                            # (3,)
            L.SimpleRNN(3, go_backwards=True, return_sequences=True,
                        name="m_rnn_back")(emb),                                    # (9, 3)
            L.LSTM(3, name="m_lstm_dense")(dense),                                  # (3,)
            L.GlobalAveragePooling1D(name="m_gap")(emb),                            # (5,)
            L.GRU(2, name="m_gru_b")(stack),                                        # (2,)
            L.GlobalAveragePooling1D(name="m_gap_add")(L.Add(name="m_add")([emb, dense])),
            L.GRU(3, name="plain_gru")(L.Embedding(20, 3, name="emb_plain")(ids)),  # (3,)
            masked,
            L.LSTM(3, return_sequences=True, name="masked_lstm")(masked),           # (6, 3)
        ]
        return K.Model([ids, feats], outputs, name="s_masking")

    # A small text classifier: Embedding(mask_zero) -> LSTM(return_sequences) ->
    # GlobalAveragePooling1D (masked mean) -> Dense.
    def s_text_seq():
        return K.Sequential([K.Input((10,), dtype="int32"),
                             L.Embedding(30, 8, mask_zero=True),
                             L.LSTM(6, return_sequences=True),
                             L.GlobalAveragePooling1D(),
                             L.Dense(2)], name="s_text_seq")

    # A text CNN: Embedding -> causal dilated Conv1D x2 -> GlobalMaxPooling1D -> Dense.
    def s_text_cnn():
        return K.Sequential([K.Input((12,), dtype="int32"),
                             L.Embedding(30, 6),
                             L.Conv1D(4, 3, padding="causal", dilation_rate=2,
                                      activation="relu"),
                             L.Conv1D(5, 2, padding="causal", dilation_rate=4),
                             L.GlobalMaxPooling1D(),
                             L.Dense(3)], name="s_text_cnn")

    # The functional form of a masked text chain: Keras 3 records the masks it propagates as
    # not_equal / any op layers passed as mask=, which a Sequential model computes by itself.
    def s_text_func():
        ids = K.Input((9,), dtype="int32", name="ids")
        x = L.Embedding(25, 6, mask_zero=True, name="emb")(ids)
        x = L.Bidirectional(L.LSTM(4, return_sequences=True), name="bi")(x)
        x = L.GRU(3, return_sequences=True, name="gru")(x)
        x = L.GlobalAveragePooling1D(name="gap")(x)
        return K.Model(ids, L.Dense(2, name="out")(x), name="s_text_func")

    specs += [
        Spec("s_masking", s_masking, chain=False, nonfinite=True,
             notes="2 inputs ids (9,) int32 (vocabulary 20, 0-padded: at the end, start, "
                   "middle, all (row 4), all but one step (row 5)) and feats (6,4) (some steps "
                   "all 0.0); 11 outputs: Embedding(20, 5, mask_zero) emb, LSTM(4, "
                   "return_sequences) m_lstm_seq, GRU(3) m_gru, SimpleRNN(3, go_backwards, "
                   "return_sequences) m_rnn_back, Dense(5, relu) -> LSTM(3) m_lstm_dense, "
                   "GlobalAveragePooling1D m_gap (NaN for row 4), LSTM(4, return_sequences) -> "
                   "GRU(2) m_gru_b, Add(emb, dense) -> GlobalAveragePooling1D m_gap_add, "
                   "Embedding(20, 3) (no mask) -> GRU(3) plain_gru, Masking(0.0) masking, "
                   "Masking -> LSTM(3, return_sequences) masked_lstm; embeddings N(0,1)"),
        Spec("s_text_seq", s_text_seq,
             notes="Sequential Embedding(30, 8, mask_zero) -> LSTM(6, return_sequences) -> "
                   "GlobalAveragePooling1D (masked mean) -> Dense(2); input (10,) int32 ids, "
                   "0-padded"),
        Spec("s_text_func", s_text_func,
             notes="Functional Embedding(25, 6, mask_zero) -> Bidirectional(LSTM(4, "
                   "return_sequences)) -> GRU(3, return_sequences) -> GlobalAveragePooling1D "
                   "(masked mean) -> Dense(2); input (9,) int32 ids, 0-padded; a chain whose "
                   "Keras 3 files record the masks as op layers"),
        Spec("s_text_cnn", s_text_cnn,
             notes="Sequential Embedding(30, 6) -> Conv1D(4, 3, causal, dilation 2, relu) -> "
                   "Conv1D(5, 2, causal, dilation 4) -> GlobalMaxPooling1D -> Dense(3); input "
                   "(12,) int32 ids"),
    ]

    # Bidirectional around SimpleRNN, LSTM and GRU: merge modes concat (default), sum, ave and
    # mul, return_sequences true (the backward sequence is turned back into input order before
    # the merge) and false, a backward layer of its own class (GRU backwards beside an LSTM),
    # masked (ids, 0-padded, Embedding mask_zero: both directions skip the padding and, returning
    # sequences, output 0 there) and unmasked (feats); TimeDistributed(Dense) per step.
    def t_bidirectional():
        ids = K.Input((8,), dtype="int32", name="ids")
        feats = K.Input((7, 5), name="feats")
        emb = L.Embedding(25, 4, mask_zero=True, name="emb")(ids)                 # (8, 4)
        seq = L.Bidirectional(L.LSTM(3, return_sequences=True), name="bi_lstm")(emb)  # (8, 6)
        outputs = [
            seq,
            L.Bidirectional(L.GRU(3), merge_mode="sum", name="bi_gru_sum")(seq),    # (3,)
            L.TimeDistributed(L.Dense(2, activation="tanh"), name="td_dense")(seq),  # (8, 2)
            L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="ave",
                            name="bi_rnn_ave")(feats),                              # (7, 3)
            L.Bidirectional(L.LSTM(2, return_sequences=True), merge_mode="mul",
                            name="bi_lstm_mul")(feats),                             # (7, 2)
            L.Bidirectional(L.LSTM(3), backward_layer=L.GRU(3, go_backwards=True),
                            name="bi_mixed")(feats),                                # (6,)
        ]
        return K.Model([ids, feats], outputs, name="t_bidirectional")

    # A bidirectional tagger: Embedding(mask_zero) -> Bidirectional(LSTM, return_sequences) ->
    # TimeDistributed(Dense(softmax)): one tag distribution per token.
    def t_tagger_seq():
        return K.Sequential([K.Input((10,), dtype="int32"),
                             L.Embedding(40, 6, mask_zero=True),
                             L.Bidirectional(L.LSTM(5, return_sequences=True)),
                             L.TimeDistributed(L.Dense(4, activation="softmax"))],
                            name="t_tagger_seq")

    # TimeDistributed around layers that are not row-wise: convolutions, normalization,
    # pooling, Flatten, over clips of frames (a CNN per frame, then a recurrent layer).
    def t_timedist():
        TD = L.TimeDistributed
        clip = K.Input((4, 6, 6, 2), name="clip")
        x = TD(L.Conv2D(4, 3, padding="same", activation="relu"), name="td_conv")(clip)
        x = TD(L.BatchNormalization(), name="td_bn")(x)
        x = TD(L.MaxPooling2D(2), name="td_pool")(x)                      # (4, 3, 3, 4)
        x = TD(L.Conv2D(3, 2), name="td_conv_b")(x)                       # (4, 2, 2, 3)
        x = TD(L.GlobalAveragePooling2D(), name="td_gap")(x)              # (4, 3)
        video = L.LSTM(5, name="video")(x)
        flat = TD(L.Flatten(), name="td_flat")(clip)                      # (4, 72)
        flat = TD(L.Dense(3), name="flat")(flat)
        d = TD(L.DepthwiseConv2D(3, padding="same"), name="td_depthwise")(clip)
        d = TD(L.AveragePooling2D(2, padding="same"), name="td_avg")(d)
        d = TD(L.LayerNormalization(), name="td_ln")(d)
        d = TD(L.UpSampling2D(2), name="td_up")(d)                        # (4, 6, 6, 2)
        return K.Model(clip, [video, flat, d], name="t_timedist")

    def t_timedist_seq():
        TD = L.TimeDistributed
        return K.Sequential([K.Input((5, 8, 8, 1)),
                             TD(L.Conv2D(3, 3, activation="relu")),
                             TD(L.MaxPooling2D(2)),
                             TD(L.Flatten()),
                             L.GRU(4),
                             L.Dense(2)], name="t_timedist_seq")

    specs += [
        Spec("t_timedist", t_timedist, chain=False, nonfinite=True,
             notes="clip (4, 6, 6, 2) (clip 6 holds a NaN, clip 7 +inf and -inf); 3 outputs: "
                   "TimeDistributed Conv2D(4, 3, same, relu) -> BatchNormalization -> "
                   "MaxPooling2D(2) -> Conv2D(3, 2) -> GlobalAveragePooling2D, then LSTM(5) "
                   "video; TimeDistributed Flatten -> Dense(3) flat; TimeDistributed "
                   "DepthwiseConv2D(3, same) -> AveragePooling2D(2, same) -> "
                   "LayerNormalization -> UpSampling2D(2) td_up"),
        Spec("t_timedist_seq", t_timedist_seq,
             notes="Sequential TimeDistributed Conv2D(3, 3, relu) -> MaxPooling2D(2) -> "
                   "Flatten, then GRU(4) -> Dense(2); input (5, 8, 8, 1)"),
        Spec("t_bidirectional", t_bidirectional, chain=False,
             notes="2 inputs ids (8,) int32 (vocabulary 25, 0-padded) and feats (7,5); 6 "
                   "outputs: Embedding(25, 4, mask_zero) -> Bidirectional(LSTM(3, "
                   "return_sequences)) bi_lstm (concat) -> Bidirectional(GRU(3), sum) "
                   "bi_gru_sum and TimeDistributed(Dense(2, tanh)) td_dense; on feats "
                   "Bidirectional(SimpleRNN(3, return_sequences), ave) bi_rnn_ave, "
                   "Bidirectional(LSTM(2, return_sequences), mul) bi_lstm_mul, "
                   "Bidirectional(LSTM(3), backward_layer=GRU(3, go_backwards)) bi_mixed"),
        Spec("t_tagger_seq", t_tagger_seq,
             notes="Sequential Embedding(40, 6, mask_zero) -> Bidirectional(LSTM(5, "
                   "return_sequences)) -> TimeDistributed(Dense(4, softmax)); input (10,) int32 "
                   "ids, 0-padded"),
    ]
    # Attention layers: the Attention layers (dot, scaled, concat, additive; masks from
    # Embedding(mask_zero); causal) and MultiHeadAttention (cross attention with masks, an
    # attention_mask input, causal, other value and output sizes, no bias).
    def u_attention():
        q_ids = K.Input((5,), dtype="int32", name="q_ids")
        v_ids = K.Input((7,), dtype="int32", name="v_ids")
        feats = K.Input((6, 8), name="feats")
        amask = K.Input((5, 7), name="amask")
        q = L.Embedding(20, 8, mask_zero=True, name="q_emb")(q_ids)                # (5, 8)
        v = L.Embedding(20, 8, mask_zero=True, name="v_emb")(v_ids)                # (7, 8)
        k = L.Dense(8, name="k_proj")(v)                                           # (7, 8)
        # Keras 3's MultiHeadAttention clears its inputs' masks as it runs, so each reads
        # tensors of its own here: which layer runs first would decide what the others see.
        mq = L.Embedding(20, 8, mask_zero=True, name="mq_emb")(q_ids)
        mv = L.Embedding(20, 8, mask_zero=True, name="mv_emb")(v_ids)
        uq = L.Embedding(20, 8, name="uq_emb")(q_ids)                             # unmasked
        uv = L.Embedding(20, 8, name="uv_emb")(v_ids)
        outputs = [
            L.Attention(name="att_dot")([q, v]),                                   # (5, 8)
            L.Attention(use_scale=True, score_mode="concat", name="att_concat")([q, v, k]),
            L.AdditiveAttention(name="att_add")([q, v]),                           # (5, 8)
            L.Attention(use_scale=True, name="att_causal")([feats, feats],
                                                           use_causal_mask=True),  # (6, 8)
            L.AdditiveAttention(use_scale=False, name="att_add_plain")([feats, feats]),
            L.MultiHeadAttention(2, 4, name="mha_cross")(mq, mv),                 # (5, 8)
            L.MultiHeadAttention(2, 3, name="mha_amask")(uq, uv, L.Dense(8, name="uk_proj")(uv),
                                                        attention_mask=amask),     # (5, 8)
            L.MultiHeadAttention(2, 3, output_shape=6, use_bias=False,
                                 name="mha_causal")(feats, feats,
                                                    use_causal_mask=True),          # (6, 6)
        ]
        return K.Model([q_ids, v_ids, feats, amask], outputs, name="u_attention")

    # A transformer encoder: token embeddings, a self-attention block and a causal one (each
    # MultiHeadAttention, residual Add, LayerNormalization, a feed-forward pair of Dense,
    # residual, LayerNormalization), a masked mean over the tokens and a classifier.
    def u_encoder():
        ids = K.Input((10,), dtype="int32", name="ids")
        x = L.Embedding(30, 16, mask_zero=True, name="tokens")(ids)
        for block, causal in (("enc", False), ("dec", True)):
            a = L.MultiHeadAttention(4, 4, name=f"{block}_mha")(x, x, use_causal_mask=causal)
            x = L.LayerNormalization(name=f"{block}_norm1")(L.Add(name=f"{block}_res1")([x, a]))
            f = L.Dense(32, activation="relu", name=f"{block}_ff1")(x)
            f = L.Dense(16, name=f"{block}_ff2")(f)
            x = L.LayerNormalization(name=f"{block}_norm2")(L.Add(name=f"{block}_res2")([x, f]))
        x = L.GlobalAveragePooling1D(name="pool")(x)
        y = L.Dense(3, activation="softmax", name="classes")(x)
        return K.Model(ids, y, name="u_encoder")

    # NaN and infinities in attention keys: the masked score of a NaN key (replaced in Keras
    # 3's MultiHeadAttention, added to in tf-keras's), masked query rows of a NaN output (zeroed
    # in Keras 3's Attention, multiplied by 0 in tf-keras's).
    def u_attention_nonfinite():
        q_ids = K.Input((5,), dtype="int32", name="q_ids")
        values = K.Input((6, 4), name="values")
        keys = K.Input((6, 4), name="keys")
        amask = K.Input((5, 6), name="amask")
        q = L.Embedding(20, 4, mask_zero=True, name="q_emb")(q_ids)
        uq = L.Embedding(20, 4, name="uq_emb")(q_ids)
        outputs = [
            L.Attention(name="att_nan")([q, values, keys]),
            L.AdditiveAttention(name="add_nan")([uq, values, keys]),
            L.MultiHeadAttention(2, 2, name="mha_nan")(uq, values, keys, attention_mask=amask),
        ]
        return K.Model([q_ids, values, keys, amask], outputs, name="u_attention_nonfinite")

    # EinsumDense with the equations MultiHeadAttention and users' models use: a Dense over
    # the last axis, two output axes (a bias along both or one), two summed axes, an ellipsis,
    # a kernel written [units, in].
    def u_einsum():
        x = K.Input((5, 8), name="x")
        y = K.Input((4, 3, 2), name="y")
        E = L.EinsumDense
        outputs = [
            E("abc,cd->abd", (None, 6), bias_axes="d", activation="relu", name="dense_like")(x),
            E("abc,cde->abde", (None, 2, 3), bias_axes="de", name="heads")(x),
            E("abc,cde->abde", (None, 2, 3), bias_axes="e", name="heads_bias_e")(x),
            E("abcd,cde->abe", (None, 4), bias_axes="e", name="merge_heads")(y),
            E("...b,bc->...c", 5, bias_axes="c", name="ellipsis")(x),
            E("abc,dc->abd", (None, 4), name="transposed")(x),
        ]
        return K.Model([x, y], outputs, name="u_einsum")

    def u_einsum_seq():
        return K.Sequential([K.Input((5, 8)),
                             L.EinsumDense("abc,cde->abde", (5, 2, 4), bias_axes="e"),
                             L.Reshape((5, 8)),
                             L.EinsumDense("abc,cd->abd", (5, 3), activation="tanh"),
                             L.Flatten(), L.Dense(2)], name="u_einsum_seq")

    # An encoder-decoder: the encoder's final states (return_state) start the decoder
    # (initial_state); a GRU's sequence and state, a masked LSTM's states, a SimpleRNN's.
    # A bidirectional encoder's states (each direction's h and c) as its decoder's initial
    # state, and a Bidirectional without merge returning its states.
    def v_bi_states():
        source = K.Input((8,), dtype="int32", name="source")
        target = K.Input((5, 4), name="target")
        emb = L.Embedding(30, 6, mask_zero=True, name="emb")(source)
        enc_out, fh, fc, bh, bc = L.Bidirectional(L.LSTM(4, return_state=True),
                                                  name="encoder")(emb)
        h = L.Concatenate(name="h")([fh, bh])
        c = L.Concatenate(name="c")([fc, bc])
        dec = L.LSTM(8, return_sequences=True, name="decoder")(target, initial_state=[h, c])
        y = L.Dense(2, name="head")(dec)
        _, g_bwd, _, g_bh = L.Bidirectional(
            L.GRU(3, return_sequences=True, return_state=True), merge_mode=None,
            name="bi_gru")(emb)
        named = [L.Activation("linear", name=n)(t) for n, t in (
            ("enc_out", enc_out), ("enc_fh", fh), ("enc_fc", fc), ("enc_bh", bh),
            ("enc_bc", bc), ("gru_bwd", g_bwd), ("gru_bh", g_bh))]
        return K.Model([source, target], [y] + named, name="v_bi_states")

    def v_seq2seq():
        source = K.Input((8,), dtype="int32", name="source")
        target = K.Input((5, 4), name="target")
        emb = L.Embedding(30, 6, mask_zero=True, name="emb")(source)
        enc_out, h, c = L.LSTM(7, return_state=True, name="encoder")(emb)
        dec = L.LSTM(7, return_sequences=True, name="decoder")(target, initial_state=[h, c])
        seq, gh = L.GRU(3, return_sequences=True, return_state=True, go_backwards=True,
                        name="gru")(dec)
        _, rh = L.SimpleRNN(4, return_state=True, name="rnn")(
            target, initial_state=L.Dense(4, name="to_rnn")(gh))
        masked_out, mh, mc = L.LSTM(3, return_state=True, return_sequences=True,
                                    name="masked")(emb)
        bi_fwd, bi_bwd = L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode=None,
                                         name="bi_none")(emb)
        y = L.Dense(2, name="head")(dec)
        # Several outputs of one layer: each through a named identity, so that Keras 3's
        # output names are unique.
        named = [L.Activation("linear", name=n)(t) for n, t in (
            ("enc_out", enc_out), ("gru_seq", seq), ("gru_h", gh), ("rnn_h", rh),
            ("masked_h", mh), ("masked_c", mc), ("masked_seq", masked_out),
            ("bi_fwd", bi_fwd), ("bi_bwd", bi_bwd))]
        return K.Model([source, target], [y] + named, name="v_seq2seq")

    # ConvLSTM1D/2D/3D: 'same' (odd and even windows: the padding's odd row after), 'valid',
    # strides, dilation, go_backwards, use_bias=False, channels_first, return_state, and a
    # decoder started from an encoder's states (initial_state).
    def y_convlstm():
        seq = K.Input((4, 7, 2), name="seq")
        img = K.Input((4, 6, 6, 2), name="img")
        vol = K.Input((3, 4, 4, 3, 2), name="vol")
        C1, C2, C3 = L.ConvLSTM1D, L.ConvLSTM2D, L.ConvLSTM3D
        enc, h, c = C2(3, 3, padding="valid", dilation_rate=2, return_state=True,
                       name="encoder")(img)                                        # (2, 2, 3)
        small = L.MaxPooling3D((1, 3, 3), name="pool")(img)                       # (4, 2, 2, 2)
        dec = C2(3, 2, padding="same", return_sequences=True, name="decoder")(
            small, initial_state=[h, c])                                           # (4, 2, 2, 3)
        first = L.Permute((1, 4, 2, 3), name="to_first")(img)                     # (4, 2, 6, 6)
        outputs = [
            C1(3, 3, padding="same", return_sequences=True, name="c1_same")(seq),  # (4, 7, 3)
            C1(2, 2, strides=2, go_backwards=True, name="c1_stride")(seq),         # (3, 2)
            C2(3, 3, padding="same", return_sequences=True, name="c2_same")(img),  # (4, 6, 6, 3)
            C2(2, (2, 3), strides=(2, 1), padding="same", use_bias=False, go_backwards=True,
               return_sequences=True, activation="relu", name="c2_stride")(img),   # (4, 3, 6, 2)
            C2(2, 3, padding="same", data_format="channels_first",
               name="c2_first")(first),                                            # (2, 6, 6)
            C3(2, 2, padding="same", return_sequences=True, name="c3_same")(vol),  # (3, 4, 4, 3, 2)
            enc, h, c, dec,
        ]
        names = ["c1_same", "c1_stride", "c2_same", "c2_stride", "c2_first", "c3_same",
                 "enc_out", "enc_h", "enc_c", "dec"]
        named = [L.Activation("linear", name="out_" + n)(t) for n, t in zip(names, outputs)]
        return K.Model([seq, img, vol], named, name="y_convlstm")

    # The chains name their gates' activation, so that both dialects compute the same function
    # and convert writes them into either.
    def y_convlstm_seq():
        gate = "sigmoid"
        return K.Sequential([K.Input((4, 6, 6, 2)),
                             L.ConvLSTM2D(4, 3, padding="same", return_sequences=True,
                                          recurrent_activation=gate),
                             L.ConvLSTM2D(3, 3, strides=2, recurrent_activation=gate),  # (2, 2, 3)
                             L.Flatten(), L.Dense(2)], name="y_convlstm_seq")

    def y_convlstm_nonfinite():
        return K.Sequential([K.Input((4, 7, 2)),
                             L.ConvLSTM1D(3, 3, padding="same", return_sequences=True,
                                          recurrent_activation="sigmoid"),
                             ], name="y_convlstm_nonfinite")

    specs += [
        Spec("y_convlstm", y_convlstm, chain=False,
             notes="3 inputs seq (4, 7, 2), img (4, 6, 6, 2), vol (3, 4, 4, 3, 2); 10 outputs "
                   "through named identities: ConvLSTM1D(3, 3, same, return_sequences), "
                   "ConvLSTM1D(2, 2, strides 2, go_backwards), ConvLSTM2D(3, 3, same, "
                   "return_sequences), ConvLSTM2D(2, (2, 3), strides (2, 1), same, no bias, "
                   "go_backwards, relu, return_sequences), ConvLSTM2D(2, 3, same, "
                   "channels_first) after Permute, ConvLSTM3D(2, 2, same, return_sequences), "
                   "ConvLSTM2D(3, 3, valid, dilation 2, return_state) output, h and c, "
                   "ConvLSTM2D(3, 2, same, return_sequences) decoder started from those "
                   "states (initial_state) on MaxPooling3D((1, 3, 3)) of img; "
                   "recurrent kernels N(0,1)/sqrt(taps * filters); the recurrent activation "
                   "is the default, %s" % ("sigmoid in Keras 3" if k3 else
                                            "hard_sigmoid in tf-keras")),
        Spec("y_convlstm_seq", y_convlstm_seq,
             notes="Sequential ConvLSTM2D(4, 3, same, return_sequences) -> ConvLSTM2D(3, 3, "
                   "strides 2) -> Flatten -> Dense(2) on (4, 6, 6, 2) (a chain), "
                   "recurrent_activation sigmoid in both dialects"),
        Spec("y_convlstm_nonfinite", y_convlstm_nonfinite, nonfinite=True,
             notes="Sequential ConvLSTM1D(3, 3, same, return_sequences, recurrent_activation "
                   "sigmoid) on (4, 7, 2) holding "
                   "a NaN, a +inf and a -inf (models/generate.py convlstm_nonfinite_input)"),
    ]

    # MultiHeadAttention with dropout: Keras 3 runs it through its Softmax layer (masked
    # weights 0, so a fully masked row gives the output bias) rather than jax's
    # dot_product_attention; tf-keras averages such a row uniformly.
    # Returning its scores takes the same path; they are a second output.
    # MultiHeadAttention over more than the steps of a sequence: by default over every axis
    # between the batch and the features jointly, or over the attention_axes given, within
    # each position of the others.
    def u_mha_axes():
        grid = K.Input((4, 5, 6), name="grid")
        other = K.Input((3, 5, 6), name="other")
        vol = K.Input((2, 3, 4, 6), name="vol")
        MHA = L.MultiHeadAttention
        both = MHA(2, 3, name="mha_all")(grid, grid)
        rows = MHA(2, 4, attention_axes=(2,), name="mha_rows")(grid, grid)
        cols = MHA(2, 3, attention_axes=(1,), name="mha_cols")(grid, other)
        vol_out = MHA(1, 2, attention_axes=(1, 3), output_shape=5, name="mha_vol")(vol, vol)
        return K.Model([grid, other, vol], [both, rows, cols, vol_out], name="u_mha_axes")

    def u_mha_dropout():
        ids = K.Input((7,), dtype="int32", name="ids")
        x = L.Embedding(20, 8, mask_zero=True, name="emb")(ids)
        y = L.MultiHeadAttention(2, 4, dropout=0.1, name="mha")(x, x)
        x2 = L.Embedding(20, 8, mask_zero=True, name="emb2")(ids)
        y2, scores = L.MultiHeadAttention(2, 3, name="mha_scores")(
            x2, x2, return_attention_scores=True, use_causal_mask=True)
        x3 = L.Embedding(20, 8, mask_zero=True, name="emb3")(ids)
        y3, att_scores = L.AdditiveAttention(name="att")([x3, x3], return_attention_scores=True)
        named = [L.Activation("linear", name=n)(t)
                 for n, t in (("mha_out", y), ("scores_out", y2), ("scores", scores),
                              ("att_out", y3), ("att_scores", att_scores))]
        return K.Model(ids, named, name="u_mha_dropout")

    # Dot: a similarity of two vectors (plain and cosine), attention scores spelled by hand
    # (sequences against sequences over their features), a product over the steps, pairs of
    # axes of different ranks, two Dense towers compared by cosine.
    def x_dot():
        a, b = K.Input((6,), name="a"), K.Input((6,), name="b")
        s, t, u = K.Input((4, 6), name="s"), K.Input((5, 6), name="t"), K.Input((4, 3), name="u")
        tower_a = L.Dense(4, activation="tanh", name="tower_a")(a)
        tower_b = L.Dense(4, activation="tanh", name="tower_b")(b)
        outputs = [
            L.Dot(axes=1, name="dot")([a, b]),
            L.Dot(axes=-1, normalize=True, name="cosine")([a, b]),
            L.Dot(axes=2, name="scores")([s, t]),
            L.Dot(axes=(-1, 2), normalize=True, name="cosine_scores")([s, t]),
            L.Dot(axes=1, name="over_steps")([s, u]),
            L.Dot(axes=(1, 2), name="vector_seq")([a, t]),
            L.Dot(axes=(2, 1), name="seq_vector")([t, b]),
            L.Dot(axes=1, normalize=True, name="towers")([tower_a, tower_b]),
        ]
        return K.Model([a, b, s, t, u], outputs, name="x_dot")

    # The categorical preprocessing layers on integer ids and on values: CategoryEncoding in
    # its three modes, Discretization by boundaries, IntegerLookup (default and with a mask
    # token and two OOV indices) feeding an Embedding.
    def x_category():
        ids = K.Input((5,), dtype="int32", name="ids")
        one = K.Input((1,), dtype="int32", name="one")
        raw = K.Input((5,), dtype="int32", name="raw")
        values = K.Input((6,), name="values")
        vocabulary = [7, 3, 12, 5]
        lookup = L.IntegerLookup(vocabulary=vocabulary, name="lookup")(raw)
        masked = L.IntegerLookup(vocabulary=vocabulary, mask_token=0, num_oov_indices=2,
                                 name="lookup_masked")(raw)
        emb = L.Embedding(7, 3, name="emb")(masked)
        named = [L.Activation("linear", name=n)(t) for n, t in (
            ("lookup_ids", lookup), ("lookup_masked_ids", masked))]
        outputs = [
            L.CategoryEncoding(6, output_mode="one_hot", name="one_hot")(one),
            L.CategoryEncoding(6, output_mode="multi_hot", name="multi_hot")(ids),
            L.CategoryEncoding(6, output_mode="count", name="count")(ids),
            L.Discretization(bin_boundaries=[-1.0, 0.0, 0.5, 2.0], name="buckets")(values),
            L.Flatten(name="emb_flat")(emb),
        ] + named
        return K.Model([ids, one, raw, values], outputs, name="x_category")

    def x_category_seq():
        return K.Sequential([K.Input((5,), dtype="int32"),
                             L.IntegerLookup(vocabulary=[7, 3, 12, 5]),
                             L.CategoryEncoding(5, output_mode="count"),
                             L.Dense(3, activation="relu"),
                             L.Dense(2)], name="x_category_seq")

    # x_category_seq with its IntegerLookup adapted rather than given its vocabulary: Keras 3
    # keeps the vocabulary in the .keras archive's assets, not in the config (adapt orders it
    # by frequency: [7, 3, 12, 5], x_category_seq's). tf-keras keeps none in its files.
    def x_lookup_adapted():
        lookup = L.IntegerLookup()
        lookup.adapt(np.array([7, 7, 7, 7, 3, 3, 3, 12, 12, 5]))
        return K.Sequential([K.Input((5,), dtype="int32"), lookup,
                             L.CategoryEncoding(5, output_mode="count"),
                             L.Dense(3, activation="relu"),
                             L.Dense(2)], name="x_lookup_adapted")

    if k3:
        specs.append(Spec(
            "x_lookup_adapted", x_lookup_adapted, formats=("keras",),
            notes="x_category_seq with IntegerLookup adapted to the same vocabulary, which "
                  "Keras 3 saves in the archive's assets (Keras 3 .keras only)"))

    specs += [
        Spec("u_mha_axes", u_mha_axes, chain=False,
             notes="3 inputs grid (4, 5, 6), other (3, 5, 6), vol (2, 3, 4, 6); 4 outputs: "
                   "MultiHeadAttention(2, 3) over both axes of grid jointly (the default), "
                   "MultiHeadAttention(2, 4, attention_axes=(2,)) over grid's second axis per "
                   "row, MultiHeadAttention(2, 3, attention_axes=(1,)) from grid to other per "
                   "column, MultiHeadAttention(1, 2, attention_axes=(1, 3), output_shape=5) over "
                   "vol's first and third axes per position of its second"),
        Spec("x_dot", x_dot, chain=False, nonfinite=True,
             notes="5 inputs a, b (6,), s (4, 6), t (5, 6), u (4, 3); NaN and infinities in a "
                   "and s, a zero row in b; 8 outputs, each a Dot: axes=1 on a, b; -1 "
                   "normalize; 2 on s, t ([4, 5] scores); (-1, 2) normalize; 1 on s, u (over "
                   "the steps, [6, 3]); (1, 2) on a, t; (2, 1) on t, b; 1 normalize on two "
                   "Dense(4, tanh) towers"),
        Spec("x_category", x_category, chain=False,
             notes="4 inputs ids (5,) and one (1,) int32 in 0..5, raw (5,) int32 ids in and "
                   "out of the vocabulary [7, 3, 12, 5] and 0, values (6,) with boundary "
                   "values, NaN and infinities; 7 outputs: CategoryEncoding(6) one_hot, "
                   "multi_hot, count; Discretization([-1, 0, 0.5, 2]); IntegerLookup (1 OOV "
                   "index) and IntegerLookup(mask_token=0, num_oov_indices=2) ids, the latter "
                   "through Embedding(7, 3) -> Flatten"),
        Spec("x_category_seq", x_category_seq,
             notes="Sequential IntegerLookup([7, 3, 12, 5]) -> CategoryEncoding(5, count) -> "
                   "Dense(3, relu) -> Dense(2) on (5,) int32 raw ids (a chain)"),
        Spec("u_mha_dropout", u_mha_dropout, chain=False,
             notes="input (7,) int32 ids (vocabulary 20, 0-padded, a row of padding only) -> "
                   "Embedding(20, 8, mask_zero) -> MultiHeadAttention(2, 4, dropout=0.1) "
                   "self-attention; another Embedding(mask_zero) -> MultiHeadAttention(2, 3, "
                   "causal) returning its attention scores; AdditiveAttention returning its "
                   "scores on a third; 5 outputs: the attentions and their scores (2, 7, 7) "
                   "and (7, 7); the dialects differ on masked query rows"),
        Spec("v_bi_states", v_bi_states, chain=False,
             notes="2 inputs source (8,) int32 ids (vocabulary 30, 0-padded) and target (5, 4); "
                   "Embedding(mask_zero) -> Bidirectional(LSTM(4, return_state)) encoder whose "
                   "directions' h and c, concatenated, are the initial_state of an LSTM(8, "
                   "return_sequences) decoder on target -> Dense(2) head; "
                   "Bidirectional(GRU(3, return_sequences, return_state), merge_mode=None) on "
                   "the masked embedding; 8 outputs: head, encoder output and its four states, "
                   "the GRU's backward sequence and backward state"),
        Spec("v_seq2seq", v_seq2seq, chain=False,
             notes="2 inputs source (8,) int32 ids (vocabulary 30, 0-padded) and target (5, 4); "
                   "Embedding(mask_zero) -> LSTM(7, return_state) encoder whose h and c are the "
                   "initial_state of the LSTM(7, return_sequences) decoder on target -> Dense(2) "
                   "head; GRU(3, return_sequences, return_state, go_backwards) on the decoder, "
                   "its state through Dense(4) the initial_state of SimpleRNN(4, return_state) "
                   "on target; LSTM(3, return_state, return_sequences) on the masked embedding; "
                   "Bidirectional(GRU(2, return_sequences), merge_mode=None) on the masked "
                   "embedding; 10 outputs: head, encoder output, GRU sequence and state, "
                   "SimpleRNN state, the masked LSTM's h, c and sequence, both directions"),
        Spec("u_einsum", u_einsum, chain=False,
             notes="2 inputs x (5, 8) and y (4, 3, 2); 6 outputs, each an EinsumDense: "
                   "abc,cd->abd (relu, bias d), abc,cde->abde (bias de, and bias e), "
                   "abcd,cde->abe on y (bias e), ...b,bc->...c (bias c), abc,dc->abd (no bias)"),
        Spec("u_einsum_seq", u_einsum_seq,
             notes="Sequential EinsumDense(abc,cde->abde, bias e) -> Reshape((5, 8)) -> "
                   "EinsumDense(abc,cd->abd, tanh) -> Flatten -> Dense(2) on (5, 8) (a chain)"),
        Spec("u_attention_nonfinite", u_attention_nonfinite, chain=False, nonfinite=True,
             notes="4 inputs q_ids (5,) int32 (vocabulary 20, 0-padded), values (6, 4), keys "
                   "(the values with NaN, +inf, -inf), amask (5, 6) masking a NaN key step; 3 "
                   "outputs: Attention over masked query embeddings, AdditiveAttention and "
                   "MultiHeadAttention(2, 2) with the attention mask over unmasked ones"),
        Spec("u_attention", u_attention, chain=False,
             notes="4 inputs q_ids (5,) and v_ids (7,) int32 (vocabulary 20, 0-padded), feats "
                   "(6, 8), amask (5, 7) of 0/1; 8 outputs: Attention (dot; use_scale concat "
                   "with a key), AdditiveAttention over the masked embeddings; Attention "
                   "(use_scale, causal) and AdditiveAttention(use_scale=False) on feats; "
                   "MultiHeadAttention(2, 4) cross attention over masked embeddings of their own, "
                   "MultiHeadAttention(2, 3) over unmasked ones with a key and an attention_mask, MultiHeadAttention(2, 3, output_shape=6, "
                   "use_bias=False, causal) on feats"),
        Spec("u_encoder", u_encoder, chain=False,
             notes="input (10,) int32 ids (vocabulary 30, 0-padded); Embedding(30, 16, "
                   "mask_zero) -> 2 transformer blocks (MultiHeadAttention(4, 4), the second "
                   "causal; Add, LayerNormalization, Dense(32, relu), Dense(16), Add, "
                   "LayerNormalization) -> GlobalAveragePooling1D (masked) -> Dense(3, softmax)"),
    ]
    specs += rnn_cell_specs(K, writer)
    return specs, dropped


def rnn_cell_specs(K, writer):
    """The RNN layer over cells (SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells) in both
    dialects, and tf-keras's legacy CuDNNLSTM / CuDNNGRU."""
    L = K.layers

    def named(pairs):
        # several outputs of one layer: each through a named identity (unique output names)
        return [L.Activation("linear", name=n)(t) for n, t in pairs]

    # RNN over one cell, as the LSTM / GRU / SimpleRNN layer of the cell's config: on feats
    # (NaN, +inf, -inf steps in samples 0-2) and on a masked embedding (0-padded ids), with
    # return_sequences, go_backwards, GRUCell(reset_after=False), use_bias=False,
    # zero_output_for_mask, return_state and inside Bidirectional.
    def w_rnn_cells():
        ids = K.Input((8,), dtype="int32", name="ids")
        feats = K.Input((6, 4), name="feats")
        emb = L.Embedding(20, 5, mask_zero=True, name="emb")(ids)
        out, h, c = L.RNN(L.LSTMCell(3, use_bias=False), return_state=True,
                          name="rnn_state")(emb)
        return K.Model([ids, feats], [
            L.RNN(L.LSTMCell(4), return_sequences=True, name="rnn_lstm")(feats),     # (6, 4)
            L.RNN(L.GRUCell(3), go_backwards=True, name="rnn_gru_back")(feats),       # (3,)
            L.RNN(L.GRUCell(3, reset_after=False), return_sequences=True,
                  name="rnn_gru_before")(emb),                                         # (8, 3)
            L.RNN(L.SimpleRNNCell(3, activation="relu"), return_sequences=True,
                  go_backwards=True, name="rnn_simple_back")(emb),                     # (8, 3)
            L.RNN(L.LSTMCell(2), return_sequences=True, zero_output_for_mask=True,
                  name="rnn_zero")(emb),                                               # (8, 2)
            L.Bidirectional(L.RNN(L.GRUCell(2), return_sequences=True),
                            name="bi_rnn")(emb),                                       # (8, 4)
        ] + named([("state_out", out), ("state_h", h), ("state_c", c)]), name="w_rnn_cells")

    # StackedRNNCells (and a list of cells): cell k reads cell k-1's output at each step; with
    # go_backwards every cell steps from the end; with a mask every cell keeps its state on
    # padded steps.
    def w_stacked_cells():
        ids = K.Input((9,), dtype="int32", name="ids")
        feats = K.Input((7, 4), name="feats")
        emb = L.Embedding(20, 5, mask_zero=True, name="emb")(ids)
        return K.Model([ids, feats], [
            L.RNN([L.LSTMCell(4), L.GRUCell(3)], return_sequences=True,
                  name="stack_seq")(emb),                                              # (9, 3)
            L.RNN(L.StackedRNNCells([L.SimpleRNNCell(3), L.LSTMCell(2)]), go_backwards=True,
                  name="stack_back")(emb),                                             # (2,)
            L.RNN([L.LSTMCell(3), L.LSTMCell(2)], go_backwards=True, return_sequences=True,
                  name="stack_back_seq")(emb),                                         # (9, 2)
            L.RNN([L.GRUCell(3), L.GRUCell(2), L.SimpleRNNCell(2)], go_backwards=True,
                  return_sequences=True, name="stack_three")(feats),                   # (7, 2)
        ], name="w_stacked_cells")

    def w_rnn_cells_seq():
        return K.Sequential([K.Input((8,), dtype="int32"),
                             L.Embedding(20, 5, mask_zero=True),
                             L.RNN(L.LSTMCell(6), return_sequences=True),
                             L.RNN([L.GRUCell(4), L.SimpleRNNCell(3)]),
                             L.Dense(2)], name="w_rnn_cells_seq")

    specs = [
        Spec("w_rnn_cells", w_rnn_cells, chain=False, nonfinite=True,
             notes="2 inputs ids (8,) int32 (vocabulary 20, 0-padded) and feats (6, 4) with "
                   "NaN, +inf, -inf in samples 0-2; 9 outputs, each an RNN over one cell: "
                   "LSTMCell(4) return_sequences and GRUCell(3) go_backwards on feats; on "
                   "Embedding(20, 5, mask_zero): GRUCell(3, reset_after=False) "
                   "return_sequences, SimpleRNNCell(3, relu) return_sequences go_backwards, "
                   "LSTMCell(2) return_sequences zero_output_for_mask, Bidirectional(RNN("
                   "GRUCell(2), return_sequences)), LSTMCell(3, use_bias=False) return_state "
                   "(output, h, c)"),
        Spec("w_stacked_cells", w_stacked_cells, chain=False,
             notes="2 inputs ids (9,) int32 (vocabulary 20, 0-padded) and feats (7, 4); 4 "
                   "outputs, each an RNN over stacked cells: [LSTMCell(4), GRUCell(3)] "
                   "return_sequences and StackedRNNCells([SimpleRNNCell(3), LSTMCell(2)]) "
                   "go_backwards and [LSTMCell(3), LSTMCell(2)] go_backwards return_sequences "
                   "on Embedding(20, 5, mask_zero); [GRUCell(3), GRUCell(2), SimpleRNNCell(2)] "
                   "go_backwards return_sequences on feats"),
        Spec("w_rnn_cells_seq", w_rnn_cells_seq,
             notes="Sequential Embedding(20, 5, mask_zero) -> RNN(LSTMCell(6), "
                   "return_sequences) -> RNN([GRUCell(4), SimpleRNNCell(3)]) -> Dense(2); input "
                   "(8,) int32 ids, 0-padded (a chain)"),
    ]
    if writer == "tfk":
        specs.append(cudnn_spec(K))
    return specs


def cudnn_spec(K):
    """w_cudnn: tf-keras's legacy CuDNNLSTM / CuDNNGRU, which TensorFlow builds and saves here
    but runs only on a GPU. The .h5 holds the CuDNN layers (weights drawn for their own layout:
    biases [8 units] and [6 units]); Keras's predictions come from the equivalent LSTM and
    GRU(reset_after=True) model loading that file, through tf-keras's own conversion of CuDNN
    weights (hdf5_format._convert_rnn_weights). The .keras is that equivalent model."""
    from tf_keras.src.layers import CuDNNGRU, CuDNNLSTM
    L = K.layers

    def build(lstm, gru):
        x = K.Input((6, 4), name="x")
        out, h, c = lstm(3, return_state=True, go_backwards=True, name="cudnn_state")(x)
        seq = lstm(4, return_sequences=True, name="cudnn_lstm")(x)
        outputs = [seq,
                   gru(3, go_backwards=True, name="cudnn_gru")(x),
                   gru(2, return_sequences=True, name="cudnn_gru_seq")(seq),
                   L.Bidirectional(lstm(2, return_sequences=True), merge_mode="sum",
                                   name="bi_cudnn")(x)]
        outputs += [L.Activation("linear", name=n)(t)
                    for n, t in (("state_out", out), ("state_h", h), ("state_c", c))]
        return K.Model(x, outputs, name="w_cudnn")

    def cudnn():
        return build(CuDNNLSTM, CuDNNGRU)

    def equivalent():
        return build(L.LSTM, lambda *a, **k: L.GRU(*a, reset_after=True, **k))

    def reference(path):
        model = equivalent()
        model.load_weights(path)
        return model

    def cudnn_weights(model):
        # the CuDNN model's weights (drawn as fill() draws them), through a file as Keras
        # converts them when loading
        source = cudnn()
        fill(K, source, WEIGHT_SEED["w_cudnn"])
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "cudnn.h5")
            source.save(path)
            model.load_weights(path)

    return Spec("w_cudnn", equivalent, chain=False, post=cudnn_weights,
                h5_build=cudnn, reference=reference,
                h5_note="the file holds CuDNNLSTM / CuDNNGRU layers (TensorFlow runs them only "
                        "on a GPU); expected = tf-keras's LSTM / GRU(reset_after) model loading "
                        "this file's weights through its own CuDNN conversion",
                notes="input x (6, 4); CuDNNLSTM(3, return_state, go_backwards) cudnn_state, "
                      "CuDNNLSTM(4, return_sequences) cudnn_lstm -> CuDNNGRU(2, "
                      "return_sequences) cudnn_gru_seq, CuDNNGRU(3, go_backwards) cudnn_gru, "
                      "Bidirectional(CuDNNLSTM(2, return_sequences), sum) bi_cudnn; 7 outputs "
                      "(the state layer's output, h and c through named identities); "
                      "the .keras is the equivalent LSTM / GRU(reset_after) model, its weights "
                      "the .h5's as tf-keras converts them")


# ---------------------------------------------------------------------------------------------
# Writer (runs in a subprocess)
# ---------------------------------------------------------------------------------------------

def output_names(model):
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    return [t._keras_history[0].name for t in model.outputs]


def as_outputs(model, y):
    if isinstance(y, dict):
        return {k: np.asarray(v, np.float32) for k, v in y.items()}
    if isinstance(y, (list, tuple)):
        names = output_names(model)
        assert len(names) == len(y)
        return {n: np.asarray(v, np.float32) for n, v in zip(names, y)}
    return {None: np.asarray(y, np.float32)}


def save_outputs(path_base, outs):
    if None in outs:
        np.save(path_base + ".npy", outs[None])
        return path_base + ".npy"
    np.savez(path_base + ".npz", **outs)
    return path_base + ".npz"


def diffs(a, b):
    """|a - b| per element of every output (flattened): inf where one is NaN and the other not,
    or where an infinity meets another value; 0 where both are NaN or the same infinity."""
    out = []
    for k in a:
        x, y = a[k].ravel().astype(np.float64), b[k].ravel().astype(np.float64)
        with np.errstate(invalid="ignore"):
            d = np.abs(x - y)
        same = (np.isnan(x) & np.isnan(y)) | (np.isinf(x) & (x == y))
        d[same] = 0.0
        d[np.isnan(d)] = np.inf
        out.append((d, y))
    return out


def max_diff(a, b):
    return max(float(np.max(d, initial=0.0)) for d, _ in diffs(a, b))


def max_scaled_diff(a, b):
    """max |a - b| / (1 + |b|): absolute for small values, relative for large ones."""
    worst = 0.0
    for d, y in diffs(a, b):
        scale = np.where(np.isfinite(y), 1.0 + np.abs(y), 1.0)
        worst = max(worst, float(np.max(d / scale, initial=0.0)))
    return worst


def run_writer(writer, entries_path, only=None):
    sys.setrecursionlimit(20000)
    if writer == "k3":
        import keras as K
        load_kw = {"safe_mode": False}
    else:
        import tf_keras as K
        load_kw = {"safe_mode": False}
    K.utils.disable_interactive_logging()
    outdir = os.path.join(HERE, writer)
    os.makedirs(outdir, exist_ok=True)
    rel = lambda p: os.path.relpath(p, ROOT)
    entries = []
    problems = []

    # model_specs registers the custom class; the builders are reused after clear_session
    specs, dropped = model_specs(K, writer)
    for spec in specs:
        if only is not None and spec.name not in only:
            continue
        K.backend.clear_session()
        K.utils.set_random_seed(7)
        model = spec.build()
        fill(K, model, WEIGHT_SEED[spec.name],
             spec.order(model) if callable(spec.order) else spec.order)
        if spec.post:
            spec.post(model)
        x = load_input(spec.name)
        y = as_outputs(model, model.predict(x, verbose=0))
        for k, v in y.items():
            assert spec.nonfinite or np.all(np.isfinite(v)), (spec.name, k)
        expected = rel(save_outputs(os.path.join(outdir, spec.name + ".expected"), y))
        notes = spec.notes() if callable(spec.notes) else spec.notes
        if spec.name == "e_acts" and dropped:
            notes += "; dropped (rejected by this writer): " + ",".join(dropped)
        base = dict(model=spec.name, writer=writer, input=input_path(spec.name),
                    expected=expected, weights=None, custom=spec.custom,
                    runnable=spec.runnable, chain=spec.chain, notes=notes)
        for fmt in spec.formats:
            path = os.path.join(outdir, "%s.%s" % (spec.name, fmt))
            if fmt == "h5" and spec.h5_build is not None:
                other = spec.h5_build()
                fill(K, other, WEIGHT_SEED[spec.name],
                     spec.order(other) if callable(spec.order) else spec.order)
                other.save(path)
            else:
                model.save(path)
            # reload with the same Keras and check it reproduces the prediction
            try:
                if spec.reference is not None:
                    again = spec.reference(path)
                else:
                    again = K.models.load_model(path, custom_objects=dict(
                        spec.load_custom, times_two_plus_one=times_two_plus_one), **load_kw)
                d = max_diff(y, as_outputs(again, again.predict(x, verbose=0)))
                if d > 0:
                    problems.append("%s reload diff %.3g" % (rel(path), d))
                    entries.append(dict(base, path=rel(path), format=fmt, notes=base["notes"] +
                                        "; NOTE: %s itself reloads this file into other "
                                        "predictions (max |diff| %.3g%s); expected is the "
                                        "saved model's" % (writer, d, ": " + spec.reload_note
                                                           if spec.reload_note else "")))
                    continue
            except Exception as e:  # report, keep the file, say so in the manifest
                msg = str(e).splitlines()[0][:200]
                problems.append("%s does not reload in %s: %s" % (rel(path), writer, msg))
                entries.append(dict(base, path=rel(path), format=fmt, notes=base["notes"] +
                                    "; NOTE: %s itself fails to reload this file: %s"
                                    % (writer, msg)))
                continue
            if fmt == "h5" and spec.h5_build is not None:
                entries.append(dict(base, path=rel(path), format=fmt,
                                    notes=base["notes"] + "; " + spec.h5_note))
                continue
            entries.append(dict(base, path=rel(path), format=fmt))

        if spec.weights_files:
            entries += weights_files(K, writer, spec, model, x, y, base, outdir, rel, problems)
        print("[%s] %-20s outputs %s" % (writer, spec.name,
                                         {k: v.shape for k, v in y.items()}), flush=True)

    with open(entries_path, "w") as f:
        json.dump({"entries": entries, "problems": problems, "versions": versions(writer)}, f)


def weights_files(K, writer, spec, model, x, y, base, outdir, rel, problems):
    """Weights-only files + an architecture-only copy with Keras's own (seeded) random init."""
    if writer == "k3":
        wfiles = [spec.name + ".weights.h5"]
        fresh = spec.name + "_freshinit.keras"
    else:
        wfiles = [spec.name + "_legacyweights.h5", spec.name + ".weights.h5"]
        fresh = spec.name + "_freshinit.h5"
    for w in wfiles:
        model.save_weights(os.path.join(outdir, w))
    K.backend.clear_session()
    K.utils.set_random_seed(12345)
    fresh_model = spec.build()  # same names as the trained one (clear_session resets counters)
    fresh_path = os.path.join(outdir, fresh)
    fresh_model.save(fresh_path)
    d_fresh = max_diff(y, as_outputs(fresh_model, fresh_model.predict(x, verbose=0)))
    if d_fresh < 1e-3:
        problems.append("%s: fresh init is too close to the trained weights" % fresh)
    out = []
    for w in wfiles:
        m = K.models.load_model(fresh_path)
        m.load_weights(os.path.join(outdir, w))
        d = max_diff(y, as_outputs(m, m.predict(x, verbose=0)))
        if d > 0:
            problems.append("%s + %s diff %.3g" % (fresh, w, d))
        out.append(dict(base, path=rel(fresh_path), format=fresh.rsplit(".", 1)[1],
                        weights=rel(os.path.join(outdir, w)),
                        notes="architecture only (Keras default init, seeded) + weights file %s; "
                              "expected = the trained model's" % w))
    return out


def versions(writer):
    import h5py
    v = {"python": sys.version.split()[0], "numpy": np.__version__, "h5py": h5py.__version__,
         "hdf5": h5py.version.hdf5_version}
    if writer == "k3":
        import jax
        import keras
        v.update(keras=keras.__version__, jax=jax.__version__, backend=keras.backend.backend())
    else:
        import tensorflow as tf
        import tf_keras
        v.update(tf_keras=tf_keras.__version__, tensorflow=tf.__version__)
    return v


# ---------------------------------------------------------------------------------------------
# Parent: inputs, both writers, manifest, cross-checks
# ---------------------------------------------------------------------------------------------

def spawn(writer, entries_path, models, onednn=True):
    env = dict(os.environ)
    if writer == "k3":
        env.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    else:
        env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
        if not onednn:
            env.update(TF_ENABLE_ONEDNN_OPTS="0")
    cmd = [sys.executable, os.path.abspath(__file__), "--writer", writer, "--entries", entries_path,
           "--only", ",".join(sorted(models, key=list(WEIGHT_SEED).index))]
    for attempt in range(3):
        rc = subprocess.call(cmd, env=env, cwd=ROOT)
        if rc == 0:
            return
        if rc < 0 and attempt < 2:  # killed by a signal (TF import has crashed with SIGBUS here)
            print("writer %s died with signal %d; retrying" % (writer, -rc), flush=True)
            continue
        sys.exit("writer %s failed (rc %d)" % (writer, rc))


def load_expected(path):
    full = os.path.join(ROOT, path)
    if full.endswith(".npy"):
        return {None: np.load(full)}
    with np.load(full) as z:
        return {k: z[k] for k in z.files}


def manifest_order(entry):
    """fixtures.json lists the k3 entries, then the tfk ones, each in WEIGHT_SEED's model order
    (a model's own entries in the order its writer made them)."""
    return ("k3", "tfk").index(entry["writer"]), list(WEIGHT_SEED).index(entry["model"])


def run_writers(models):
    """Both writers on `models`; tf-keras in two processes when some models want oneDNN off."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for writer in ("k3", "tfk"):
            groups = [(models, True)]
            if writer == "tfk":
                groups = [(models - ONEDNN_OFF, True), (models & ONEDNN_OFF, False)]
            merged = {"entries": [], "problems": [], "versions": None}
            for group, onednn in groups:
                if not group:
                    continue
                p = os.path.join(tmp, "%s-%d.json" % (writer, onednn))
                spawn(writer, p, group, onednn)
                with open(p) as f:
                    r = json.load(f)
                merged["entries"] += r["entries"]
                merged["problems"] += r["problems"]
                merged["versions"] = r["versions"]
            merged["entries"].sort(key=manifest_order)
            results[writer] = merged
    return results


def main_parent(only=None):
    """Everything, or with `only` just those models: their files are rewritten and their
    manifest entries replaced, every other file stays as it is."""
    models = set(WEIGHT_SEED) if only is None else set(only)
    unknown = models - set(WEIGHT_SEED)
    if unknown:
        sys.exit("unknown model(s): %s" % ", ".join(sorted(unknown)))
    manifest = os.path.join(HERE, "fixtures.json")
    versions_path = os.path.join(HERE, "versions.json")
    if only is None:
        for d in ("k3", "tfk", "inputs"):
            shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
        if os.path.exists(manifest):
            os.remove(manifest)
    write_inputs(sorted(models, key=list(WEIGHT_SEED).index))

    results = run_writers(models)
    versions = {w: results[w]["versions"] for w in results}

    entries = results["k3"]["entries"] + results["tfk"]["entries"]
    keys = ["model", "writer", "path", "format", "input", "expected", "weights", "custom",
            "runnable", "chain", "notes"]
    entries = [{k: e[k] for k in keys} for e in entries]
    if only is not None:
        with open(versions_path) as f:
            if json.load(f) != versions:
                sys.exit("the installed Keras, TensorFlow, jax, numpy or h5py differ from "
                         "versions.json: regenerate everything (no --only)")
        with open(manifest) as f:
            entries += [e for e in json.load(f) if e["model"] not in models]
        entries.sort(key=manifest_order)
    with open(manifest, "w") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")
    if only is None:
        with open(versions_path, "w") as f:
            json.dump(versions, f, indent=1)
            f.write("\n")

    print("\nk3 vs tfk expected outputs: max |diff|, max |diff|/(1+|tfk|):")
    expected = {}
    for e in entries:
        if e["weights"] is None and e["model"] in models:
            expected[(e["model"], e["writer"])] = e["expected"]
    for m in sorted({m for m, _ in expected}):
        if (m, "k3") not in expected or (m, "tfk") not in expected:
            print("  %-22s only one writer" % m)
            continue
        a, b = load_expected(expected[(m, "k3")]), load_expected(expected[(m, "tfk")])
        only_k3 = sorted(set(a) - set(b) - {None})
        if only_k3 and not set(b) - set(a):  # k3-only extra outputs: compare the shared ones
            a = {k: v for k, v in a.items() if k in b}
        if {k: v.shape for k, v in a.items()} != {k: v.shape for k, v in b.items()}:
            print("  %-22s not comparable (shapes %s vs %s)" % (
                m, {k: v.shape for k, v in a.items()}, {k: v.shape for k, v in b.items()}))
            continue
        extra = ""
        if m == "e_acts":
            i = ACTIVATIONS.index("hard_sigmoid")
            keep = np.ones(a[None].shape[1], bool)
            keep[i * 16:(i + 1) * 16] = False
            ak, bk = {None: a[None][:, keep]}, {None: b[None][:, keep]}
            extra = "  (without hard_sigmoid: %.3g, %.3g)" % (max_diff(ak, bk),
                                                            max_scaled_diff(ak, bk))
        elif m == "e_layout":
            extra = "  (different architectures: tfk has no ln_rms)"
        elif m == "r_recurrent":  # hard_sigmoid differs between the dialects (see r_recurrent)
            ak = {k: v for k, v in a.items() if k != "lstm_hard"}
            bk = {k: v for k, v in b.items() if k != "lstm_hard"}
            extra = "  (without lstm_hard: %.3g, %.3g)" % (max_diff(ak, bk),
                                                         max_scaled_diff(ak, bk))
        elif m.startswith("i_nonfinite"):
            extra = "  (inf: NaN or an infinity against another value)"
        if only_k3:
            extra += "  (shared outputs only; k3 also has %s)" % ", ".join(only_k3)
        print("  %-22s %-9.3g %-9.3g%s" % (m, max_diff(a, b), max_scaled_diff(a, b), extra))

    print("\ntwins (same input, same weights), max |diff|:")
    for w in ("k3", "tfk"):
        for a, b, what in TWINS:
            if (a, w) in expected and (b, w) in expected:
                d = max_diff(load_expected(expected[(a, w)]), load_expected(expected[(b, w)]))
                print("  %-4s %-13s vs %-20s %.3g   %s" % (w, a, b, d, what))

    problems = results["k3"]["problems"] + results["tfk"]["problems"]
    print("\nproblems:" if problems else "\nno problems (every file reloads and reproduces its "
          "prediction exactly; weights files + freshinit reproduce the trained prediction)")
    for p in problems:
        print("  " + p)
    total = 0
    for dirpath, _, files in os.walk(HERE):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print("\n%d manifest entries; models/ is %.2f MB" % (len(entries), total / 1e6))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--writer", choices=["k3", "tfk"])
    ap.add_argument("--entries")
    ap.add_argument("--only", help="comma-separated model names (default: every model)")
    args = ap.parse_args()
    only = [m for m in args.only.split(",") if m] if args.only else None
    if args.writer:
        run_writer(args.writer, args.entries, None if only is None else set(only))
    else:
        main_parent(only)


if __name__ == "__main__":
    main()
