#!/usr/bin/env python3
"""Write small models whose layers keep their weights in sublayers, for tests/sublayer_weights.rs.

    python models/generate_sublayers.py            # rewrites models/sublayers/

One functional model per dialect (Keras 3 in k3/, tf-keras 2 in tfk/):
  tokens -> emb Embedding -> lstm LSTM -> gru GRU -> rnn SimpleRNN -> bidi Bidirectional(LSTM)
         -> mha MultiHeadAttention(x, x) -> inner Sequential(inner_lstm LSTM, inner_d Dense) -> head Dense
saved as sublayers.keras, sublayers.h5 and sublayers.weights.h5 (tf-keras also as the legacy
weights-only sublayers_legacy.h5). The weights are random, so every value is distinct.

expected.json lists, per layer (nested ones as `inner/inner_lstm`), Keras's `count_params()` and
its `layer.weights` in order, each as keqv names it: the variable's group path under the layer's
group in the .weights.h5 file, then its short name (`cell/kernel`, `forward_layer/cell/bias`,
`query_dense/kernel`). The group path is found by matching each variable's values against the
file, so it is what the writer stored, not what this script assumes. tf-keras keeps
MultiHeadAttention's sublayers in private attributes (`_query_dense`), Keras 3 in public ones
(`query_dense`); keqv names both the Keras 3 way.
No predictions are saved: keqv cannot run these layers yet.
Each writer runs in its own subprocess (Keras 3 and tf-keras do not share a process cleanly).
"""

import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "sublayers")


def build(K):
    L = K.layers
    tokens = K.Input((3,), dtype="int32", name="tokens")
    x = L.Embedding(5, 2, name="emb")(tokens)
    x = L.LSTM(2, return_sequences=True, name="lstm")(x)
    x = L.GRU(2, return_sequences=True, name="gru")(x)
    x = L.SimpleRNN(2, return_sequences=True, name="rnn")(x)
    x = L.Bidirectional(L.LSTM(2, return_sequences=True), name="bidi")(x)
    x = L.MultiHeadAttention(num_heads=1, key_dim=2, name="mha")(x, x)
    inner = K.Sequential([K.Input((3, 4)), L.LSTM(2, name="inner_lstm"),
                          L.Dense(2, name="inner_d")], name="inner")
    out = L.Dense(2, name="head")(inner(x))
    model = K.Model(tokens, out, name="sublayers")
    rng = np.random.default_rng(7)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()])
    return model


def datasets(path):
    """Every dataset of a Keras 3-layout weights file: (path, value)."""
    import h5py

    found = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.append((name, obj[()]))
                     if isinstance(obj, h5py.Dataset) else None)
    return found


def expected(model, weights_path, short_name):
    """Per layer: count_params and each weight's keqv name, shape and values."""
    stored = datasets(weights_path)
    layers = {}

    def visit(layer, prefix):
        if hasattr(layer, "layers") and layer.layers:
            for inner in layer.layers:
                visit(inner, prefix + layer.name + "/")
            return
        weights = []
        for w in layer.weights:
            value = np.asarray(w.numpy() if hasattr(w, "numpy") else w)
            paths = [p for p, v in stored if v.shape == value.shape and np.array_equal(v, value)]
            assert len(paths) == 1, (layer.name, paths)
            parts = paths[0].split("/")
            # layers/<layer group>[/layers/<inner group>…]/<sublayer path…>/vars/<i>
            vars_at = len(parts) - 2
            start = 2
            while parts[start:start + 1] == ["layers"]:
                start += 2
            sub = [p.lstrip("_") for p in parts[start:vars_at]]
            weights.append({"name": "/".join(sub + [short_name(w)]),
                            "shape": list(value.shape),
                            "values": [float(v) for v in value.ravel()]})
        layers[prefix + layer.name] = {"class": type(layer).__name__,
                                       "params": int(layer.count_params()), "weights": weights}

    for layer in model.layers:
        visit(layer, "")
    return layers


def writer(kind):
    out = os.path.join(OUT, kind)
    os.makedirs(out, exist_ok=True)
    if kind == "k3":
        os.environ["KERAS_BACKEND"] = "jax"
        import keras as K

        short_name = lambda w: w.name  # noqa: E731
    else:
        import tf_keras as K

        short_name = lambda w: w.name.split("/")[-1].split(":")[0]  # noqa: E731
    model = build(K)
    model.save(os.path.join(out, "sublayers.keras"))
    model.save(os.path.join(out, "sublayers.h5"))
    weights = os.path.join(out, "sublayers.weights.h5")
    model.save_weights(weights)
    if kind == "tfk":
        model.save_weights(os.path.join(out, "sublayers_legacy.h5"))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected(model, weights, short_name), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) == 2:
        writer(sys.argv[1])
    else:
        for kind in ["k3", "tfk"]:
            subprocess.run([sys.executable, __file__, kind], check=True)
