#!/usr/bin/env python3
"""Write small models holding layers keqv cannot run, for tests/unsupported.rs.

    python models/generate_unsupported.py            # rewrites models/unsupported/

Keras's own built-ins keqv does not run yet (SpectralNormalization, RandomCrop, Hashing,
LocallyConnected1D) and a registered custom layer (mypkg>FeatureNormalization), in both dialects:
  conv.keras  (Keras 3)    conv1 SpectralNormalization(Conv2D) -> crop RandomCrop -> Flatten -> Dense
  seq.h5      (tf-keras 2) hash Hashing -> embed Embedding -> local LocallyConnected1D -> Flatten
                           -> Dense (LocallyConnected1D exists in tf-keras only)
  mixed.keras (Keras 3)    conv1 SpectralNormalization(Conv2D) -> crop RandomCrop
                           -> norm FeatureNormalization -> Flatten -> Dense
  mixed.h5    (tf-keras 2) the same
SpectralNormalization (a wrapper with weights: the Conv2D's kernel and bias and its own vector_u) and
RandomCrop (no weights) are in both Keras 3 and tf-keras 2.21 and on no list of layers keqv is to
support. tf-keras's SpectralNormalization names `tf.keras.layers.InputSpec`, which TensorFlow 2.21
resolves to Keras 3 unless TF_USE_LEGACY_KERAS=1, so its writer sets that; tf-keras itself cannot
reload mixed.h5 without custom_objects (its legacy loader does not know SpectralNormalization), and
Keras 3's RandomCrop returns its input uncropped at inference (a Keras bug): neither matters here.
Layers called with tensors as keyword arguments, in both dialects (.keras from Keras 3, .h5 from
tf-keras 2), inputs of shape (3, 4):
  keywords      q, v, m -> mha MultiHeadAttention(q, value=v) (1 head, key_dim 2),
                att Attention([q, v]), sm Softmax(q, mask=m) -> out Add (keqv runs mha
                and att, written before it did; sm is what it refuses)
  softmax_mask  x, m -> sm Softmax(x, mask=m): a layer keqv runs, but not with a mask
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
                  L.SpectralNormalization(L.Conv2D(4, 3), name="conv1"),
                  L.RandomCrop(4, 4, name="crop")]
        if with_custom:
            layers.append(FeatureNormalization(name="norm"))
        layers += [L.Flatten(name="flatten"), L.Dense(3, name="out")]
        return K.Sequential(layers, name="conv")

    def seq():
        return K.Sequential([K.Input((6,), dtype="int64", name="tokens"),
                             L.Hashing(20, name="hash"),
                             L.Embedding(20, 4, name="embed"),
                             L.LocallyConnected1D(3, 2, name="local"),
                             L.Flatten(name="flatten"),
                             L.Dense(3, name="out")], name="seq")

    def keywords():
        q, v, m = (K.Input((3, 4), name=n) for n in "qvm")
        mha = L.MultiHeadAttention(num_heads=1, key_dim=2, name="mha")(q, value=v)
        att = L.Attention(name="att")([q, v])
        sm = L.Softmax(name="sm")(q, mask=m)
        return K.Model([q, v, m], L.Add(name="out")([mha, att, sm]), name="keywords")

    def softmax_mask():
        x, m = (K.Input((3, 4), name=n) for n in "xm")
        return K.Model([x, m], L.Softmax(name="sm")(x, mask=m), name="softmax_mask")

    return conv, seq, keywords, softmax_mask


def writer(kind):
    os.makedirs(OUT, exist_ok=True)
    if kind == "k3":
        os.environ["KERAS_BACKEND"] = "jax"
        import keras as K

        conv, seq, keywords, softmax_mask = build(
            K, lambda x: K.ops.normalize(x, axis=-1, order=2))
        conv(False).save(os.path.join(OUT, "conv.keras"))
        conv(True).save(os.path.join(OUT, "mixed.keras"))
        keywords().save(os.path.join(OUT, "keywords.keras"))
        softmax_mask().save(os.path.join(OUT, "softmax_mask.keras"))
    else:
        # tf-keras's SpectralNormalization uses tf.keras.layers.InputSpec: make tf.keras tf-keras
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import tensorflow as tf
        import tf_keras as K

        conv, seq, keywords, softmax_mask = build(
            K, lambda x: tf.math.l2_normalize(x, axis=-1))
        seq().save(os.path.join(OUT, "seq.h5"))
        conv(True).save(os.path.join(OUT, "mixed.h5"))
        keywords().save(os.path.join(OUT, "keywords.h5"))
        softmax_mask().save(os.path.join(OUT, "softmax_mask.h5"))


if __name__ == "__main__":
    if len(sys.argv) == 2:
        writer(sys.argv[1])
    else:
        for kind in ["k3", "tfk"]:
            subprocess.run([sys.executable, __file__, kind], check=True)
