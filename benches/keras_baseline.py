#!/usr/bin/env python3
"""The alternative keqv replaces, timed side by side with keqv in the same run.

What users write today to check a conversion: load both models with Keras, predict both on the
same input, take the max-abs difference. This script times that (a fresh Python process per
check, as a user's script runs) against `keqv verify` on the same fixture pairs, and times
Keras's own predict (tf-keras on TensorFlow CPU, and Keras 3 on jax) against `keqv bench` on a
large MLP (784-4096-4096-4096-10) at batch 1024.

    python benches/keras_baseline.py [--keqv target/release/keqv] [--runs 5]

Needs the Python environment of models/README.md (keras 3.15.1 + jax, tensorflow-cpu 2.21.0 +
tf-keras 2.21.0). Prints Markdown tables for BENCHMARKS.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (original, converted) pairs; each pair is written by one Keras so one library loads both.
PAIRS = [
    ("models/k3/a_seq_mlp.keras", "models/k3/a_func_mlp.keras"),
    ("models/tfk/a_seq_mlp.h5", "models/tfk/a_func_mlp.h5"),
    ("models/k3/c_func_skip.keras", "models/k3/c_func_skip_reimpl.keras"),
    ("models/tfk/c_func_skip.h5", "models/tfk/c_seq_skip_dropped.h5"),
    ("models/k3/d_chain_func.keras", "models/k3/d_chain_seq.keras"),
    ("models/tfk/e_zoo.h5", "models/tfk/e_zoo.keras"),
]


def keras_env(path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
    env["KERAS_BACKEND"] = "jax"
    env["KEQV_BASELINE_LIB"] = "tf_keras" if "/tfk/" in path or "tf_keras" in path else "keras"
    return env


def user_script(original, converted, batch, seed):
    """What a user's script does: load, predict both, compare. Runs in its own process."""
    import numpy as np

    if os.environ["KEQV_BASELINE_LIB"] == "tf_keras":
        import tf_keras as keras
    else:
        import keras
    a = keras.models.load_model(original, compile=False)
    b = keras.models.load_model(converted, compile=False)
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal((batch,) + tuple(t.shape[1:])).astype("float32") for t in a.inputs]
    ya = a.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0, batch_size=max(batch, 32))
    yb = b.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0, batch_size=max(batch, 32))
    ya = ya if isinstance(ya, list) else [ya]
    yb = yb if isinstance(yb, list) else [yb]
    diff = max(float(np.max(np.abs(p - q))) for p, q in zip(ya, yb))
    print(json.dumps({"max_abs": diff}))


def timed(cmd, env=None, cwd=ROOT):
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return elapsed, out.stdout


def median_time(cmd, runs, env=None):
    times = [timed(cmd, env)[0] for _ in range(runs)]
    return statistics.median(times)


def verify_table(keqv, runs, pairs):
    print("| pair | Keras script (s) | keqv verify (s) | speed-up |")
    print("|---|---|---|---|")
    ratios = []
    for original, converted in pairs:
        script = [sys.executable, __file__, "--user-script", original, converted]
        t_keras = median_time(script, runs, keras_env(original))
        t_keqv = median_time([keqv, "verify", original, converted, "--device", "cpu"], runs)
        ratios.append(t_keras / t_keqv)
        name = f"{os.path.basename(original)} vs {os.path.basename(converted)}"
        print(f"| {name} | {t_keras:.2f} | {t_keqv:.3f} | {t_keras / t_keqv:.0f}× |")
    print(f"\nsmallest speed-up: {min(ratios):.0f}×\n")


def big_mlp_table(keqv, runs, batch):
    """Keras predict vs keqv bench on the large MLP, both libraries, in this process's run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big_mlp.h5")
        code = BIG_MLP.format(path=path, batch=batch, runs=runs)
        rows = []
        for lib in ("tf_keras", "keras"):
            env = dict(keras_env(path), KEQV_BASELINE_LIB=lib)
            _, out = timed([sys.executable, "-c", code], env)
            rows.append(json.loads(out.strip().splitlines()[-1]))
        _, out = timed([keqv, "bench", path, "--batch", str(batch), "--device", "cpu", "--runs", str(runs), "--format", "json"])
        keqv_report = json.loads(out)
    print(f"| large MLP 784-4096-4096-4096-10, batch {batch} | samples/s | median s |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['lib']} predict | {row['samples_per_s']:.0f} | {row['median_s']:.3f} |")
    d = keqv_report["devices"][0]
    print(f"| keqv {d['device']} | {d['samples_per_s']:.0f} | {d['median_ms'] / 1e3:.3f} |")
    print(f"\nkeqv peak memory {keqv_report['peak_memory_mb']:.0f} MB")


BIG_MLP = """
import json, os, statistics, time
import numpy as np
lib = os.environ["KEQV_BASELINE_LIB"]
if lib == "tf_keras":
    import tf_keras as keras
else:
    import keras
path, batch, runs = {path!r}, {batch}, {runs}
if not os.path.exists(path):
    rng = np.random.default_rng(0)
    m = keras.Sequential([keras.Input((784,))] + [keras.layers.Dense(4096, activation="relu") for _ in range(3)]
                         + [keras.layers.Dense(10, activation="softmax")])
    m.set_weights([(rng.standard_normal(w.shape) / np.sqrt(w.shape[0])).astype("float32") if w.ndim == 2
                   else np.zeros(w.shape, "float32") for w in m.get_weights()])
    m.save(path)
m = keras.models.load_model(path, compile=False)
x = np.random.default_rng(1).standard_normal((batch, 784)).astype("float32")
m.predict(x, batch_size=batch, verbose=0)
times = []
for _ in range(runs):
    t = time.perf_counter(); m.predict(x, batch_size=batch, verbose=0); times.append(time.perf_counter() - t)
med = statistics.median(times)
print(json.dumps({{"lib": lib + " " + keras.__version__, "median_s": med, "samples_per_s": batch / med}}))
"""


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--user-script":
        user_script(sys.argv[2], sys.argv[3], batch=8, seed=0)
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--keqv", default=os.path.join(ROOT, "target/release/keqv"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--skip-mlp", action="store_true")
    parser.add_argument("--pair", nargs=2, action="append", metavar=("ORIGINAL", "CONVERTED"),
                        help="verify these two files instead of the fixture pairs (both written "
                             "by the Keras their path names: /tfk/ for tf-keras, else Keras 3)")
    args = parser.parse_args()
    if not args.skip_verify:
        verify_table(args.keqv, args.runs, [tuple(p) for p in args.pair] if args.pair else PAIRS)
    if not args.skip_mlp:
        big_mlp_table(args.keqv, args.runs, args.batch)


if __name__ == "__main__":
    main()
