"""Keras's own predict on sequence models at batch 64 against `keqv bench`, in one run (issue
target: keqv's CPU samples/s ≥ Keras 3 on jax): a tagger (Embedding → LSTM(256) × 2 returning
sequences → Dense per step) on 100 steps, and a 4-layer transformer encoder (d_model 256,
8 heads, feed-forward 512) on 128 tokens. The models are written here with random weights
(their speed does not depend on the values); the inputs are token ids.

    python benches/seq_baseline.py [--keqv target/release/keqv] [--runs 3] [--dir /tmp/keqv-seq]
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 64
VOCAB = 5000
# name: steps of its input
MODELS = {"lstm_tagger": 100, "transformer": 128}

BUILD = """
import sys
lib, directory, ext = sys.argv[1], sys.argv[2], sys.argv[3]
if lib == "tf_keras":
    import tf_keras as K
else:
    import keras as K
L = K.layers

def lstm_tagger():
    ids = K.Input((100,), dtype="int32")
    x = L.Embedding(%(vocab)d, 128)(ids)
    x = L.LSTM(256, return_sequences=True)(x)
    x = L.LSTM(256, return_sequences=True)(x)
    return K.Model(ids, L.Dense(20, activation="softmax")(x))

def transformer():
    ids = K.Input((128,), dtype="int32")
    x = L.Embedding(%(vocab)d, 256)(ids)
    for _ in range(4):
        a = L.MultiHeadAttention(8, 32)(x, x)
        x = L.LayerNormalization()(L.Add()([x, a]))
        f = L.Dense(512, activation="relu")(x)
        x = L.LayerNormalization()(L.Add()([x, L.Dense(256)(f)]))
    x = L.GlobalAveragePooling1D()(x)
    return K.Model(ids, L.Dense(2, activation="softmax")(x))

for name in ("lstm_tagger", "transformer"):
    globals()[name]().save("%%s/%%s.%%s" %% (directory, name, ext))
""" % {"vocab": VOCAB}

PREDICT = """
import json, statistics, sys, time
import numpy as np
lib, path, runs, batch, steps, vocab = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
if lib == "tf_keras":
    import tf_keras as keras
else:
    import keras
m = keras.models.load_model(path, compile=False)
x = np.random.default_rng(1).integers(0, vocab, (batch, steps)).astype("int32")
m.predict(x, batch_size=batch, verbose=0)
times = []
for _ in range(runs):
    t = time.perf_counter(); m.predict(x, batch_size=batch, verbose=0); times.append(time.perf_counter() - t)
med = statistics.median(times)
print(json.dumps({"lib": lib + " " + keras.__version__, "median_s": med, "samples_per_s": batch / med}))
"""


def write_models(directory):
    """tf-keras writes NAME.h5 (keqv and tf-keras run it), Keras 3 writes NAME.keras."""
    os.makedirs(directory, exist_ok=True)
    for lib, ext, env in (("tf_keras", "h5", {}), ("keras", "keras", {"KERAS_BACKEND": "jax"})):
        if all(os.path.exists(os.path.join(directory, m + "." + ext)) for m in MODELS):
            continue
        subprocess.run([sys.executable, "-c", BUILD, lib, directory, ext], check=True,
                       capture_output=True, env=dict(os.environ, **env))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keqv", default=os.path.join(ROOT, "target/release/keqv"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/keqv-seq")
    args = ap.parse_args()
    write_models(args.dir)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    print("| model, batch %d | runner | samples/s | median s | keqv's ratio |" % BATCH)
    print("|---|---|---|---|---|")
    for name, steps in MODELS.items():
        rows = []
        for lib, backend, ext in (("keras", "jax", "keras"), ("tf_keras", "tensorflow", "h5")):
            model = os.path.join(args.dir, name + "." + ext)
            r = subprocess.run([sys.executable, "-c", PREDICT, lib, model, str(args.runs),
                                str(BATCH), str(steps), str(VOCAB)],
                               check=True, capture_output=True, text=True,
                               env=dict(env, KERAS_BACKEND=backend))
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
        for ext in ("keras", "h5"):
            path = os.path.join(args.dir, name + "." + ext)
            out = subprocess.run([args.keqv, "bench", path, "--batch", str(BATCH), "--device",
                                  "cpu", "--runs", str(args.runs), "--warmup", "1", "--format",
                                  "json"], check=True, capture_output=True, text=True).stdout
            d = json.loads(out)["devices"][0]
            keqv_rate = d["samples_per_s"]
            for row in rows:
                print("| %s (.%s) | %s (%s) predict | %.1f | %.3f | %.2f× |" % (
                    name, ext, row["lib"],
                    "jax" if row["lib"].startswith("keras") else "TensorFlow",
                    row["samples_per_s"], row["median_s"], keqv_rate / row["samples_per_s"]))
            print("| %s (.%s) | keqv %s | %.1f | %.3f | |" % (
                name, ext, d["device"], keqv_rate, d["median_ms"] / 1e3))


if __name__ == "__main__":
    main()
