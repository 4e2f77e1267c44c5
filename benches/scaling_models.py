#!/usr/bin/env python3
"""Writes the MLPs of benches/scaling.sh with tf-keras 2.x (legacy .h5): the large MLP
784-4096-4096-4096-10, a width series (784-W-W-W-10) and a depth series (784-1024×D-10), all
ReLU with a softmax head and He-scaled random weights.

    python benches/scaling_models.py OUT_DIR
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import numpy as np
import tf_keras as keras

WIDTHS = [256, 512, 1024, 2048, 4096]
DEPTHS = [1, 2, 4, 8]


def mlp(hidden):
    layers = [keras.Input((784,))]
    layers += [keras.layers.Dense(w, activation="relu") for w in hidden]
    layers.append(keras.layers.Dense(10, activation="softmax"))
    model = keras.Sequential(layers)
    rng = np.random.default_rng(0)
    model.set_weights(
        [
            (rng.standard_normal(w.shape) * np.sqrt(2 / w.shape[0])).astype("float32")
            if w.ndim == 2
            else np.zeros(w.shape, "float32")
            for w in model.get_weights()
        ]
    )
    return model


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    models = {"big_mlp": [4096] * 3}
    models.update({f"width_{w}": [w] * 3 for w in WIDTHS})
    models.update({f"depth_{d}": [1024] * d for d in DEPTHS})
    for name, hidden in models.items():
        path = os.path.join(out, f"{name}.h5")
        if not os.path.exists(path):
            mlp(hidden).save(path)
        print(path)


if __name__ == "__main__":
    main()
