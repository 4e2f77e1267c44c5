#!/usr/bin/env python3
"""Write small models holding layers keqv cannot run, for tests/unsupported.rs.

    python models/generate_unsupported.py            # rewrites models/unsupported/

Keras's own built-ins keqv does not run yet (SeparableConv2D, UpSampling2D, Embedding, LSTM) and a
registered custom layer (mypkg>FeatureNormalization), in both dialects:
  conv.keras  (Keras 3)    conv1 SeparableConv2D -> up UpSampling2D -> Flatten -> Dense
  seq.h5      (tf-keras 2) embed Embedding -> lstm LSTM -> Dense
  mixed.keras (Keras 3)    conv1 SeparableConv2D -> up UpSampling2D -> norm FeatureNormalization -> Flatten -> Dense
  mixed.h5    (tf-keras 2) the same
No predictions are saved: keqv refuses to run these models, and `keqv inspect` describes them.
Each writer runs in its own subprocess (Keras 3 and tf-keras do not share a process cleanly).
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "unsupported")


def build(K, mixed_norm):
    L = K.layers

    @K.saving.register_keras_serializable(package="mypkg")
    class FeatureNormalization(L.Layer):
        def call(self, x):
            return mixed_norm(x)

    def conv(with_custom):
        layers = [K.Input((8, 8, 3), name="image"),
                  L.SeparableConv2D(4, 3, name="conv1"),
                  L.UpSampling2D(name="up")]
        if with_custom:
            layers.append(FeatureNormalization(name="norm"))
        layers += [L.Flatten(name="flatten"), L.Dense(3, name="out")]
        return K.Sequential(layers, name="conv")

    def seq():
        return K.Sequential([K.Input((6,), name="tokens"),
                             L.Embedding(20, 4, name="embed"),
                             L.LSTM(5, name="lstm"),
                             L.Dense(3, name="out")], name="seq")

    return conv, seq


def writer(kind):
    os.makedirs(OUT, exist_ok=True)
    if kind == "k3":
        os.environ["KERAS_BACKEND"] = "jax"
        import keras as K

        conv, seq = build(K, lambda x: K.ops.normalize(x, axis=-1, order=2))
        conv(False).save(os.path.join(OUT, "conv.keras"))
        conv(True).save(os.path.join(OUT, "mixed.keras"))
    else:
        import tensorflow as tf
        import tf_keras as K

        conv, seq = build(K, lambda x: tf.math.l2_normalize(x, axis=-1))
        seq().save(os.path.join(OUT, "seq.h5"))
        conv(True).save(os.path.join(OUT, "mixed.h5"))


if __name__ == "__main__":
    if len(sys.argv) == 2:
        writer(sys.argv[1])
    else:
        for kind in ["k3", "tfk"]:
            subprocess.run([sys.executable, __file__, kind], check=True)
