"""Keras itself loads the models `keqv convert` wrote and predicts what the originals predicted.

Run by tests/convert.rs (keras_loads_every_written_file), once per dialect:

    python tests/keras_loads.py MANIFEST.json keras3|tf-keras RESULTS.json

MANIFEST.json lists the written files: {"file", "dialect", "input", "expected", "layers",
"exact"}, with `expected` Keras's own prediction of the original model on `input` and `layers`
the layer names the Sequential model must have, `source` (+ `source_weights`) the file that was
converted. Every file of the given dialect is loaded with that Keras (Keras 3 with the jax
backend, or tf-keras 2.x), checked to be a Sequential model with those layers, and run on the
input. When `exact` (the original was written by the same Keras) its output must be identical to
that Keras's output of the source model, loaded and run here the same way (the saved
prediction was made on another processor, whose rounding may differ in the last bit), unless
that Keras cannot reload the source (Keras 3's legacy .h5 of its recorded mask ops); else
within `tol` + `tol`·|b| of the saved prediction b (Keras 3 and tf-keras round differently:
1e-6 for the small fixtures, 1e-4 for keras.applications' deep CNNs, the bar keqv itself meets
there). RESULTS.json gets one {"file", "ok", "max_abs", "error"} per file. Exit
status 0 when the script itself ran.
"""

import json
import os
import sys
import traceback


def main():
    manifest_path, dialect, results_path = sys.argv[1:4]
    if dialect == "keras3":
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras as K

        @K.saving.register_keras_serializable(package="mypkg")
        class FeatureNormalization(K.layers.Layer):
            def call(self, x):
                return K.ops.normalize(x, axis=-1, order=2)

    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf
        import tf_keras as K

        @K.saving.register_keras_serializable(package="mypkg")
        class FeatureNormalization(K.layers.Layer):
            def call(self, x):
                return tf.math.l2_normalize(x, axis=-1)

    # The tanh form of gelu (models/generate.py's GeluApprox), the same in both Keras.
    @K.saving.register_keras_serializable(package="mypkg")
    class GeluApprox(K.layers.Layer):
        def call(self, x):
            return K.activations.gelu(x, approximate=True)

    import numpy as np

    def times_two_plus_one(x):
        return x * 2.0 + 1.0

    custom = {
        "FeatureNormalization": FeatureNormalization,
        "GeluApprox": GeluApprox,
        "times_two_plus_one": times_two_plus_one,
    }
    with open(manifest_path) as f:
        entries = [e for e in json.load(f) if e["dialect"] == dialect]
    results = []
    for entry in entries:
        result = {"file": entry["file"], "ok": False, "max_abs": None, "error": None}
        try:
            model = K.models.load_model(
                entry["file"], custom_objects=custom, compile=False, safe_mode=False
            )
            kind = type(model).__name__
            if kind != "Sequential":
                raise AssertionError(f"loaded as {kind}, not Sequential")
            names = [layer.name for layer in model.layers]
            if names != entry["layers"]:
                raise AssertionError(f"layers {names}, expected {entry['layers']}")
            x = np.load(entry["input"])
            want = np.load(entry["expected"])
            got = np.asarray(model(x, training=False))
            exact = entry["exact"]
            if exact:
                try:
                    source = K.models.load_model(
                        entry["source"], custom_objects=custom, compile=False, safe_mode=False
                    )
                except ValueError as e:
                    # Keras 3 cannot reload its own legacy .h5 holding the mask op layers it
                    # records (NotEqual): the saved prediction is the reference then.
                    print(f"note {entry['source']} does not reload ({e}); saved prediction used")
                    exact = False
                else:
                    if entry.get("source_weights"):
                        source.load_weights(entry["source_weights"])
                    want = np.asarray(source(x, training=False))
            if got.shape != want.shape:
                raise AssertionError(f"output shape {got.shape}, expected {want.shape}")
            same_nan = np.array_equal(np.isnan(got), np.isnan(want))
            diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
            max_abs = float(np.nanmax(diff)) if diff.size else 0.0
            result["max_abs"] = max_abs
            if not same_nan:
                raise AssertionError("NaNs in different places")
            tol = 0.0 if exact else entry["tol"]
            excess = diff - tol * np.abs(want.astype(np.float64))
            result["ok"] = bool(np.nanmax(excess) <= tol) if diff.size else True
            if not result["ok"]:
                result["error"] = f"max |a-b| = {max_abs:.3e} > {tol} + {tol}·|b|"
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            result["error"] = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        results.append(result)
        status = "ok  " if result["ok"] else "FAIL"
        print(f"{status} {dialect} {entry['file']} max_abs={result['max_abs']}", flush=True)
    with open(results_path, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
