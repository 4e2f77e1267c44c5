"""Keras's own predict on keras.applications CNNs at 224×224, batch 32, against `keqv bench`,
in one run (issue targets: keqv's CPU samples/s ≥ Keras 3 on jax and ≥ 1.5× tf-keras on
TensorFlow). The models are written here with weights=None (their speed does not depend on the
values).

    python benches/cnn_baseline.py [--keqv target/release/keqv] [--runs 3] [--dir /tmp/keqv-cnn]
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = [("resnet50", "ResNet50"), ("mobilenet_v2", "MobileNetV2")]
BATCH = 32

PREDICT = """
import json, os, statistics, sys, time
import numpy as np
lib, path, runs, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if lib == "tf_keras":
    import tf_keras as keras
else:
    import keras
m = keras.models.load_model(path, compile=False)
x = np.random.default_rng(1).standard_normal((batch, 224, 224, 3)).astype("float32")
m.predict(x, batch_size=batch, verbose=0)
times = []
for _ in range(runs):
    t = time.perf_counter(); m.predict(x, batch_size=batch, verbose=0); times.append(time.perf_counter() - t)
med = statistics.median(times)
print(json.dumps({"lib": lib + " " + keras.__version__, "median_s": med, "samples_per_s": batch / med}))
"""


def write_models(directory):
    """tf-keras writes NAME.h5 (keqv and tf-keras run it), Keras 3 writes NAME.keras (Keras 3
    cannot load every tf-keras .h5 of these)."""
    os.makedirs(directory, exist_ok=True)
    for lib, ext, env in (("tf_keras", "h5", {}), ("keras", "keras", {"KERAS_BACKEND": "jax"})):
        missing = [m for m in MODELS if not os.path.exists(os.path.join(directory, m[0] + "." + ext))]
        if not missing:
            continue
        code = ("import %s as keras, sys\n"
                "for name, ctor in %r:\n"
                "    m = getattr(keras.applications, ctor)(weights=None, input_shape=(224, 224, 3))\n"
                "    m.save(sys.argv[1] + '/' + name + '.%s')\n" % (lib, missing, ext))
        subprocess.run([sys.executable, "-c", code, directory], check=True, capture_output=True,
                       env=dict(os.environ, **env))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keqv", default=os.path.join(ROOT, "target/release/keqv"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/keqv-cnn")
    args = ap.parse_args()
    write_models(args.dir)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    print("| model, batch %d | runner | samples/s | median s | keqv's ratio |" % BATCH)
    print("|---|---|---|---|---|")
    for name, _ in MODELS:
        path = os.path.join(args.dir, name + ".h5")
        out = subprocess.run([args.keqv, "bench", path, "--batch", str(BATCH), "--device", "cpu",
                              "--runs", str(args.runs), "--warmup", "1", "--format", "json"],
                             check=True, capture_output=True, text=True).stdout
        d = json.loads(out)["devices"][0]
        keqv_rate = d["samples_per_s"]
        rows = []
        for lib, backend, ext in (("keras", "jax", "keras"), ("tf_keras", "tensorflow", "h5")):
            model = os.path.join(args.dir, name + "." + ext)
            r = subprocess.run([sys.executable, "-c", PREDICT, lib, model, str(args.runs), str(BATCH)],
                               check=True, capture_output=True, text=True,
                               env=dict(env, KERAS_BACKEND=backend))
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
        for row in rows:
            print("| %s | %s (%s) predict | %.1f | %.3f | %.2f× |" % (
                name, row["lib"], "jax" if row["lib"].startswith("keras") else "TensorFlow",
                row["samples_per_s"], row["median_s"], keqv_rate / row["samples_per_s"]))
        print("| %s | keqv %s | %.1f | %.3f | |" % (name, d["device"], keqv_rate, d["median_ms"] / 1e3))


if __name__ == "__main__":
    main()
