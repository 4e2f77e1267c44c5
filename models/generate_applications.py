#!/usr/bin/env python3
"""Write keras.applications models (weights=None, 10 classes, small inputs) with Keras's own
predictions, for keqv's tests. The files are large (about 3.8 GB in all): they are generated in
CI, never committed.

    python models/generate_applications.py [--out DIR] [--only NAME,...] [--jax-cache DIR]
    python models/generate_applications.py --list

DIR defaults to target/applications. For each model and writer (k3 = Keras 3 with jax, tfk =
tf-keras) it holds <writer>/<model>.keras, <writer>/<model>.h5, <writer>/<model>.expected.npy,
and inputs/<model>.npy (shared by both writers), applications.json (the manifest: entries as in
models/fixtures.json, paths relative to DIR) and versions.json. With --only, just those models
are rewritten and their manifest entries replaced. --jax-cache keeps jax's compilation cache
(a few MB) in DIR: most of the k3 writer's time goes into compiling jax's random initializers
for every new weight shape, and a cache kept between runs (CI) saves most of it.

Weights. A random deep network computes nearly a constant function: with Keras's init its
BatchNormalization layers (moving mean 0, variance 1) let activations grow or vanish layer after
layer. So the tfk writer draws the weights once: Keras's own seeded initializers, then gamma
1 + 0.1·N and beta 0.1·N (BatchNormalization, LayerNormalization; ConvNeXt's LayerScale gamma
too, whose 1e-6 init would silence every block), ImageNet mean and variance in EfficientNetB0's
Normalization, then every BatchNormalization's moving statistics set to the per-channel mean and
variance of its own input on a calibration batch (one forward pass in training mode, dropout
off: each layer then sees exactly the activations it would see at inference had the layers
before it been calibrated), then perturbed (mean += 0.1·std·N, variance ·= U(0.8, 1.25)) so that
inference differs from training mode. VGG16, which has no normalisation layer, gets the same
calibration folded into each hidden Conv2D/Dense. If the softmax is nearly flat or saturated (the
logits' std over classes, averaged over the batch, outside [0.5, 3]), the classifier's kernel
and bias are scaled to put it at 1.5. The weights go to an .npz that the k3 writer loads by layer
name (by order of weighted layers where the names differ), so both dialects hold identical
weights. The writers run at once (k3 in one process, tfk split over two), each writing all its
files before its reload checks, so that the k3 writer, which waits for each model's .npz, seldom
waits.

Inputs: batch 8, float32. Families whose preprocessing is inside the model (MobileNetV3's
Rescaling, EfficientNet's Rescaling + Normalization, ConvNeXt's Normalization) get images,
uniform [0, 255]; the others expect preprocessed input (their preprocess_input is outside the
model) and get N(0, 1).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from generate import as_outputs, max_diff, max_scaled_diff, save_outputs  # noqa: E402

BATCH = 8
CALIBRATION_BATCH = 32
CLASSES = 10


class App:
    def __init__(self, name, ctor, size, image, **kwargs):
        self.name = name      # model name in file names and the manifest
        self.ctor = ctor      # keras.applications constructor
        self.size = size      # input side: the smallest the constructor accepts
        self.image = image    # input uniform [0, 255] (preprocessing inside) or N(0, 1)
        self.kwargs = kwargs  # options, the same in both dialects


APPS = [
    App("mobilenet", "MobileNet", 32, False, alpha=0.25),
    App("mobilenet_v2", "MobileNetV2", 32, False, alpha=0.35),
    App("mobilenet_v3_small", "MobileNetV3Small", 32, True, minimalistic=False),
    App("mobilenet_v3_large", "MobileNetV3Large", 32, True),
    App("efficientnet_b0", "EfficientNetB0", 32, True),
    App("efficientnet_v2_b0", "EfficientNetV2B0", 32, True),
    App("resnet50", "ResNet50", 32, False),
    App("resnet50_v2", "ResNet50V2", 32, False),
    App("densenet121", "DenseNet121", 32, False),
    App("xception", "Xception", 71, False),
    App("inception_v3", "InceptionV3", 75, False),
    App("inception_resnet_v2", "InceptionResNetV2", 75, False),
    App("vgg16", "VGG16", 32, False),
    App("convnext_tiny", "ConvNeXtTiny", 32, True),
    App("nasnet_mobile", "NASNetMobile", 32, False),
]
BY_NAME = {a.name: a for a in APPS}
SEED = {a.name: i for i, a in enumerate(APPS)}  # weights 3000+i, inputs 4000+i, calibration 5000+i
WRITERS = ("k3", "tfk")
FORMATS = ("keras", "h5")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def draw_input(app, seed, batch):
    rng = np.random.default_rng(seed)
    shape = (batch, app.size, app.size, 3)
    if app.image:
        return rng.uniform(0.0, 255.0, shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


def input_desc(app):
    return ("uniform [0, 255] (preprocessing inside the model)" if app.image
            else "N(0, 1) (preprocess_input is outside the model)")


def dependence(p):
    """How much the softmax output depends on the input: `spread` is the std over the batch of
    the logits (log p, centred per sample) relative to their mean |.|, averaged over classes;
    `pstd` the largest per-class std of p over the batch; `top1` the number of distinct argmax
    classes; `pmax` the mean top probability (near 1: saturated)."""
    p = np.asarray(p, np.float64).reshape(len(p), -1)
    z = np.log(np.maximum(p, 1e-300))
    z -= z.mean(axis=1, keepdims=True)
    return dict(spread=float(z.std(axis=0).mean() / (np.abs(z).mean() + 1e-30)),
                pstd=float(p.std(axis=0).max()), top1=len(set(p.argmax(axis=1).tolist())),
                pmax=float(p.max(axis=1).mean()), zstd=float(z.std(axis=1).mean()))


def fmt_dep(d):
    return "spread %.3f, top-1 %d/8, max class std %.3g, mean max p %.3f, logit std %.2f" % (
        d["spread"], d["top1"], d["pstd"], d["pmax"], d["zstd"])


def degenerate(d):
    return d["top1"] < 2 or d["pstd"] <= 1e-3


# ---------------------------------------------------------------------------------------------
# Writers (each in its own subprocess)
# ---------------------------------------------------------------------------------------------

def import_keras(writer):
    if writer == "k3":
        import keras as K
    else:
        import tf_keras as K
    K.utils.disable_interactive_logging()
    return K


def custom_objects(writer):
    """Classes of keras.applications that Keras does not register: the .h5 files (and tf-keras's
    .keras) name only the class, so a reload needs them."""
    if writer == "k3":
        from keras.src.applications import convnext, inception_resnet_v2
    else:
        from tf_keras.src.applications import convnext, inception_resnet_v2
    return {"LayerScale": convnext.LayerScale, "StochasticDepth": convnext.StochasticDepth,
            "CustomScaleLayer": inception_resnet_v2.CustomScaleLayer}


def build(K, app):
    return getattr(K.applications, app.ctor)(
        weights=None, include_top=True, classes=CLASSES,
        input_shape=(app.size, app.size, 3), **app.kwargs)


def leaves(model):
    """Every layer, nested models' included (ConvNeXt's stem and downsampling Sequentials)."""
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from leaves(layer)
        else:
            yield layer


def weighted(model):
    # top-level layers: a nested model's get/set_weights cover its own layers, in the same
    # order in both dialects
    return [layer for layer in model.layers if layer.weights]


def is_chain(model):
    """Every layer's only input is the previous layer's output: one input, one output, no
    branches, no sharing."""
    layers = model.layers
    if any(hasattr(l, "layers") for l in layers):
        return False
    try:  # .input raises for a layer called more than once
        return all(l.input is p.output for p, l in zip(layers, layers[1:]))
    except (AttributeError, ValueError):
        return False


def predict(model, x):
    y = as_outputs(model, model.predict(x, verbose=0))
    assert list(y) == [None], list(y)
    return y


def make_weights(K, model, app, x, calibration, stats):
    """Randomise, calibrate and perturb the normalisation layers (tf-keras, in place); see the
    module docstring."""
    rng = np.random.default_rng(3000 + SEED[app.name])
    for layer in leaves(model):
        if type(layer).__name__ == "Normalization" and layer.weights:
            # EfficientNetB0's, after Rescaling(1/255). Before any predict: tf-keras's traced
            # predict function keeps the mean and variance it saw as constants
            mean, var, count = layer.get_weights()
            assert mean.shape == (3,), mean.shape
            layer.set_weights([np.float32(IMAGENET_MEAN), np.float32(IMAGENET_STD) ** 2, count])
            layer.finalize_state()
    stats["init"] = dependence(predict(model, x)[None])
    bns = []
    for layer in leaves(model):
        cls = type(layer).__name__
        if cls in ("BatchNormalization", "LayerNormalization"):
            for var, role in ((layer.gamma, "gamma"), (layer.beta, "beta")):
                if var is not None:  # InceptionResNetV2's BN have scale=False
                    noise = 0.1 * rng.standard_normal(var.shape)
                    var.assign((noise + (1.0 if role == "gamma" else 0.0)).astype(np.float32))
            if cls == "BatchNormalization":
                bns.append(layer)
        elif cls == "LayerScale":
            layer.gamma.assign((1.0 + 0.1 * rng.standard_normal(layer.gamma.shape))
                               .astype(np.float32))

    if bns:
        assert all(b in model.layers for b in bns), "BatchNormalization inside a nested model"
        probe = K.Model(model.inputs, [b.input for b in bns])
        dropouts = [l for l in leaves(model) if isinstance(l, K.layers.Dropout)]
        rates = [l.rate for l in dropouts]
        for l in dropouts:
            l.rate = 0.0
        acts = probe(calibration, training=True)
        for l, r in zip(dropouts, rates):
            l.rate = r
        for b, a in zip(bns, acts):
            a = np.asarray(a, np.float64)
            axis = [ax % a.ndim for ax in np.atleast_1d(b.axis)]
            assert axis == [a.ndim - 1], axis
            mean = a.mean(axis=tuple(range(a.ndim - 1)))
            var = a.var(axis=tuple(range(a.ndim - 1)))
            b.moving_mean.assign(mean.astype(np.float32))
            b.moving_variance.assign(var.astype(np.float32))
        stats["calibrated"] = dependence(predict(model, x)[None])
        for b in bns:
            mean, var = b.moving_mean.numpy(), b.moving_variance.numpy()
            mean = mean + 0.1 * np.sqrt(var) * rng.standard_normal(mean.shape)
            var = var * rng.uniform(0.8, 1.25, var.shape)
            b.moving_mean.assign(mean.astype(np.float32))
            b.moving_variance.assign(var.astype(np.float32))

    elif not any(type(l).__name__ == "LayerNormalization" for l in leaves(model)):
        standardise_layers(K, model, calibration, rng)  # VGG16: no normalisation layer at all
        stats["calibrated"] = dependence(predict(model, x)[None])

    # A nearly flat or saturated softmax hides most of what the logits say: scale them (the
    # last weighted layer is the classifier in every family; only Reshape, Flatten and Activation
    # follow it). log p underestimates the spread of saturated logits, hence a few rounds.
    stats["head_scale"] = 1.0
    head = weighted(model)[-1]
    for _ in range(5):
        d = dependence(predict(model, x)[None])
        if 0.5 <= d["zstd"] <= 3.0:
            break
        s = 1.5 / d["zstd"]
        head.set_weights([w * np.float32(s) for w in head.get_weights()])
        stats["head_scale"] *= s
    else:
        d = dependence(predict(model, x)[None])
    stats["final"] = d


def standardise_layers(K, model, calibration, rng):
    """For a model without normalisation layers: what calibrating a BatchNormalization after
    every hidden Conv2D/Dense would do, folded into its kernel and bias, layer after layer (each
    pre-activation standardised per channel on the calibration batch, then its bias moved by
    0.1·N). Without it VGG16's ReLU stack maps every input to nearly the same output."""
    layers = [l for l in weighted(model)[:-1] if type(l).__name__ in ("Conv2D", "Dense")]
    for layer in layers:
        activation = layer.activation
        layer.activation = K.activations.linear  # read at call time: the probe gets the sum
        pre = np.asarray(K.Model(model.inputs, layer.output)(calibration), np.float64)
        layer.activation = activation
        mean = pre.mean(axis=tuple(range(pre.ndim - 1)))
        std = pre.std(axis=tuple(range(pre.ndim - 1))) + 1e-6
        kernel, bias = layer.get_weights()
        bias = (bias - mean) / std + 0.1 * rng.standard_normal(bias.shape)
        layer.set_weights([(kernel / std).astype(np.float32), bias.astype(np.float32)])


def save_weights_npz(model, path):
    layers = weighted(model)
    arrays = {"names": np.array([l.name for l in layers]),
              "classes": np.array([type(l).__name__ for l in layers])}
    for j, layer in enumerate(layers):
        for i, w in enumerate(layer.get_weights()):
            arrays["%d_%d" % (j, i)] = w
    np.savez(path + ".part.npz", **arrays)
    os.replace(path + ".part.npz", path)  # the k3 writer polls for this name


def load_weights_npz(model, path):
    """Set the tfk writer's weights; returns how layers were matched."""
    with np.load(path) as z:
        names = [str(n) for n in z["names"]]
        layers = weighted(model)
        if sorted(names) == sorted(l.name for l in layers):
            by_name = {l.name: l for l in layers}
            pairs = [(j, by_name[n]) for j, n in enumerate(names)]
            how = "name"
        else:
            classes = [str(c) for c in z["classes"]]
            assert classes == [type(l).__name__ for l in layers], "weighted layers differ"
            pairs = list(enumerate(layers))
            how = "order"
        for j, layer in pairs:
            ws = [z["%d_%d" % (j, i)] for i in range(len(layer.weights))]
            assert [w.shape for w in ws] == [tuple(v.shape) for v in layer.weights], layer.name
            layer.set_weights(ws)
            if type(layer).__name__ == "Normalization":
                layer.finalize_state()  # else it computes with the mean/variance it had
    return how


def wait_for(path, timeout=3600):
    start = time.time()
    while not os.path.exists(path):
        if time.time() - start > timeout:
            raise RuntimeError("no weights after %ds: %s" % (timeout, path))
        time.sleep(0.2)


class Laps:
    """Seconds per phase of one model, for the timing report."""

    def __init__(self, phases):
        self.phases, self.last = phases, time.time()

    def __call__(self, phase):
        now = time.time()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self.last
        self.last = now


def write_model(K, writer, app, out, wdir):
    """Build, set the weights, predict, save both formats; returns the manifest entries and the
    report of this model."""
    rep = dict(phases={})
    lap = Laps(rep["phases"])
    K.backend.clear_session()  # default layer names (add, tf.__operators__.add) count from 0
    K.utils.set_random_seed(3000 + SEED[app.name])
    model = build(K, app)
    rep["chain"] = is_chain(model)
    lap("build")
    x = np.load(os.path.join(out, "inputs", app.name + ".npy"))
    npz = os.path.join(wdir, app.name + ".npz")
    if writer == "tfk":
        calibration = draw_input(app, 5000 + SEED[app.name], CALIBRATION_BATCH)
        make_weights(K, model, app, x, calibration, rep)
        save_weights_npz(model, npz)
        rep["matched"] = "-"
        lap("weights")
    else:
        wait_for(npz)
        lap("wait")
        rep["matched"] = load_weights_npz(model, npz)
    y = predict(model, x)[None]
    assert np.all(np.isfinite(y)), app.name
    rep["dependence"] = dependence(y)
    expected = save_outputs(os.path.join(out, writer, app.name + ".expected"), {None: y})
    lap("predict")
    notes = ("keras.applications.%s(weights=None, include_top=True, classes=%d, "
             "input_shape=(%d, %d, 3)%s); input %s; weights: Keras's seeded init, then "
             "normalisation made data-dependent and the classifier scaled as "
             "models/generate_applications.py describes%s" % (
                 app.ctor, CLASSES, app.size, app.size,
                 "".join(", %s=%r" % kv for kv in app.kwargs.items()), input_desc(app),
                 "; weights matched to the tfk model's by order of weighted layers (the layer "
                 "names differ)" if rep["matched"] == "order" else ""))
    base = dict(model=app.name, writer=writer, input="inputs/%s.npy" % app.name,
                expected=os.path.relpath(expected, out), weights=None, custom={},
                runnable=True, chain=rep["chain"], notes=notes)
    entries, rep["files"] = [], {}
    for fmt in FORMATS:
        path = os.path.join(out, writer, "%s.%s" % (app.name, fmt))
        model.save(path)
        rep["files"][fmt] = os.path.getsize(path)
        entries.append(dict(base, path=os.path.relpath(path, out), format=fmt))
        lap("save " + fmt)
    return entries, rep


def check_reload(K, writer, entry, out, custom, problems):
    """The same Keras must reload the file into the same predictions; if not, the file stays and
    its manifest notes say so."""
    name, fmt = entry["model"], entry["format"]
    x = np.load(os.path.join(out, entry["input"]))
    y = np.load(os.path.join(out, entry["expected"]))
    try:
        again = K.models.load_model(os.path.join(out, entry["path"]), custom_objects=custom,
                                    safe_mode=False)
        d = max_diff({None: y}, predict(again, x))
        if d > 0:
            problems.append("%s/%s.%s reload diff %.3g" % (writer, name, fmt, d))
            entry["notes"] += ("; NOTE: %s itself reloads this file into other predictions "
                               "(max |diff| %.3g)" % (writer, d))
    except Exception as e:
        msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        problems.append("%s/%s.%s does not reload in %s: %s" % (writer, name, fmt, writer, msg))
        entry["notes"] += "; NOTE: %s itself fails to reload this file: %s" % (writer, msg)


def run_writer(writer, out, wdir, entries_path, only, jax_cache):
    sys.setrecursionlimit(20000)
    if writer == "k3":
        import jax
        # Building a model compiles jax's random initializers for every new weight shape (their
        # values are then replaced); the non-partitionable threefry compiles several times
        # faster. Inference draws no random numbers, so predictions do not change.
        jax.config.update("jax_threefry_partitionable", False)
        # a reloaded model's predict compiles the same program again: let it hit the cache
        jax.config.update("jax_compilation_cache_dir", jax_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    K = import_keras(writer)
    custom = custom_objects(writer)
    os.makedirs(os.path.join(out, writer), exist_ok=True)
    entries, problems, report = [], [], {}
    apps = [a for a in APPS if a.name in only]
    # every model's files first, the reload checks after: the k3 writer waits for the tfk
    # writer's weights, which then come as early as they can
    for app in apps:
        t0 = time.time()
        e, report[app.name] = write_model(K, writer, app, out, wdir)
        entries += e
        print("[%s] %-20s %5.1fs (%s)" % (writer, app.name, time.time() - t0, ", ".join(
            "%s %.1f" % kv for kv in report[app.name]["phases"].items())), flush=True)
    for entry in entries:
        K.backend.clear_session()
        t0 = time.time()
        check_reload(K, writer, entry, out, custom, problems)
        report[entry["model"]]["phases"]["reload " + entry["format"]] = time.time() - t0
    for app in apps:
        rep = report[app.name]
        rep["total_s"] = sum(rep["phases"].values()) - rep["phases"].get("wait", 0.0)
        print("[%s] %-20s reloads: %s" % (writer, app.name, ", ".join(
            "%s %.1fs" % (f, rep["phases"]["reload " + f]) for f in FORMATS)), flush=True)
    with open(entries_path, "w") as f:
        json.dump(dict(entries=entries, problems=problems, report=report,
                       versions=versions(writer)), f)


def versions(writer):
    import h5py
    v = {"python": sys.version.split()[0], "numpy": np.__version__, "h5py": h5py.__version__}
    if writer == "k3":
        import jax
        import keras
        v.update(keras=keras.__version__, jax=jax.__version__)
    else:
        import tensorflow as tf
        import tf_keras
        v.update(tf_keras=tf_keras.__version__, tensorflow=tf.__version__)
    return v


# ---------------------------------------------------------------------------------------------
# What the saved files contain: layer classes and op layers
# ---------------------------------------------------------------------------------------------

def saved_config(path):
    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read("config.json"))
    import h5py
    with h5py.File(path, "r") as f:
        cfg = f.attrs["model_config"]
        return json.loads(cfg.decode() if isinstance(cfg, bytes) else cfg)


def is_tensor_ref(v):
    if isinstance(v, list):
        return bool(v) and all(is_tensor_ref(t) for t in v)
    return isinstance(v, dict) and v.get("class_name") == "__keras_tensor__"


def call_constants(nodes):
    """The non-tensor arguments of a layer's calls, as written: Keras 3's nodes
    ({"args": [...], "kwargs": {...}}) and tf-keras's ([[layer, node, tensor, kwargs], ...], or
    one [layer, node, tensor, kwargs] for a TFOpLambda)."""
    found = []
    for node in nodes or []:
        if isinstance(node, dict):
            found += [json.dumps(a) for a in node.get("args", []) if not is_tensor_ref(a)]
            found += ["%s=%s" % (k, json.dumps(v)) for k, v in node.get("kwargs", {}).items()
                      if not is_tensor_ref(v) and v is not None and k != "training"]
            continue
        for inbound in ([node] if node and isinstance(node[0], str) else node):
            if len(inbound) > 3 and isinstance(inbound[3], dict):
                found += ["%s=%s" % (k, "<tensor>" if is_tfk_tensor_ref(v) else json.dumps(v))
                          for k, v in inbound[3].items() if v is not None and k != "name"]
    return found


def is_tfk_tensor_ref(v):
    # tf-keras writes a tensor passed as a keyword as [layer, node index, tensor index]
    return (isinstance(v, list) and len(v) == 3 and isinstance(v[0], str)
            and all(isinstance(i, int) for i in v[1:]))


def describe_layers(cfg, classes, ops):
    """Collect layer class names (with their module where it is not keras.layers) of a model
    config, nested models included, and a description of each op-like layer."""
    config = cfg.get("config", {})
    for layer in config.get("layers", []):
        cls, module = layer["class_name"], layer.get("module")
        label = cls if module in (None, "keras.layers", "keras") else "%s[%s]" % (cls, module)
        if layer.get("registered_name") not in (None, cls):
            label += "{%s}" % layer["registered_name"]
        classes.add(label)
        c = layer.get("config", {})
        constants = call_constants(layer.get("inbound_nodes"))
        if (constants or (module or "").startswith("keras.src.ops")
                or cls.split(">")[-1] in ("TFOpLambda", "SlicingOpLambda", "Lambda",
                                          "CustomScaleLayer")):
            args = {k: v for k, v in c.items() if k not in ("name", "trainable", "dtype")}
            ops.add("%s %s called with (%s)" % (label, json.dumps(args, sort_keys=True),
                                                ", ".join(constants)))
        if "layers" in c:
            describe_layers(layer, classes, ops)


# ---------------------------------------------------------------------------------------------
# Parent
# ---------------------------------------------------------------------------------------------

def spawn(writer, out, wdir, entries_path, only, jax_cache):
    env = dict(os.environ)
    if writer == "k3":
        env.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    else:
        env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
    cmd = [sys.executable, os.path.abspath(__file__), "--writer", writer, "--out", out,
           "--weights-dir", wdir, "--entries", entries_path, "--jax-cache", jax_cache,
           "--only", ",".join(only)]
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


def main_parent(out, only, jax_cache):
    t_start = time.time()
    full = only is None
    only = [a.name for a in APPS if full or a.name in only]
    manifest = os.path.join(out, "applications.json")
    if full:
        for d in WRITERS + ("inputs",):
            shutil.rmtree(os.path.join(out, d), ignore_errors=True)
        if os.path.exists(manifest):
            os.remove(manifest)
    os.makedirs(os.path.join(out, "inputs"), exist_ok=True)
    for name in only:
        np.save(os.path.join(out, "inputs", name + ".npy"),
                draw_input(BY_NAME[name], 4000 + SEED[name], BATCH))

    results = {w: dict(entries=[], problems=[], report={}) for w in WRITERS}
    with tempfile.TemporaryDirectory(prefix="keqv-apps-") as wdir:
        cache = jax_cache or os.path.join(wdir, "jax-cache")
        # tfk draws the weights, k3 loads them as they appear (see the module docstring). The
        # tfk work (mostly its slow reloads of .keras files) is split between two processes so
        # that it takes about as long as k3's.
        jobs = [("k3", only), ("tfk", only[0::2]), ("tfk", only[1::2])]
        procs = []
        for i, (w, models) in enumerate(jobs):
            if models:
                path = os.path.join(wdir, "%s-%d.json" % (w, i))
                procs.append((w, path, spawn(w, out, wdir, path, models, cache)))
        for w, _, proc in sorted(procs, key=lambda p: p[0] == "k3"):  # k3 waits for tfk
            if proc.wait() != 0:
                for _, _, other in procs:
                    if other.poll() is None:
                        other.kill()
                        other.wait()
                sys.exit("writer %s failed (rc %d)" % (w, proc.returncode))
        for w, path, _ in procs:
            with open(path) as f:
                r = json.load(f)
            for k in ("entries", "problems"):
                results[w][k] += r[k]
            results[w]["report"].update(r["report"])
            results[w]["versions"] = r["versions"]

    entries = results["k3"]["entries"] + results["tfk"]["entries"]
    if not full and os.path.exists(manifest):
        with open(manifest) as f:
            entries += [e for e in json.load(f) if e["model"] not in only]
    order = [a.name for a in APPS]
    entries.sort(key=lambda e: (WRITERS.index(e["writer"]), order.index(e["model"]),
                                FORMATS.index(e["format"])))
    keys = ["model", "writer", "path", "format", "input", "expected", "weights", "custom",
            "runnable", "chain", "notes"]
    with open(manifest, "w") as f:
        json.dump([{k: e[k] for k in keys} for e in entries], f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "versions.json"), "w") as f:
        json.dump({w: results[w]["versions"] for w in WRITERS}, f, indent=1)
        f.write("\n")

    print("\nper model: input dependence of the softmax (tfk: Keras init -> BN calibrated -> "
          "final; k3: final), k3 vs tfk max |diff|, file sizes, wall time per writer:")
    for name in only:
        app, rt, r3 = BY_NAME[name], results["tfk"]["report"][name], results["k3"]["report"][name]
        e = {w: np.load(os.path.join(out, w, name + ".expected.npy")) for w in WRITERS}
        d = max_diff({None: e["k3"]}, {None: e["tfk"]})
        ds = max_scaled_diff({None: e["k3"]}, {None: e["tfk"]})
        print("  %s: %s %dx%d, input %s, chain %s" % (
            name, app.ctor, app.size, app.size, "uniform [0,255]" if app.image else "N(0,1)",
            rt["chain"]))
        print("    init        %s" % fmt_dep(rt["init"]))
        if "calibrated" in rt:
            print("    calibrated  %s" % fmt_dep(rt["calibrated"]))
        print("    final       %s%s" % (fmt_dep(rt["final"]), "  (classifier scaled by %.3g)"
                                       % rt["head_scale"] if rt["head_scale"] != 1.0 else ""))
        print("    k3          %s" % fmt_dep(r3["dependence"]))
        print("    k3 vs tfk max |diff| %.3g (scaled %.3g); k3 weights matched by %s" % (
            d, ds, r3["matched"]))
        print("    sizes MB: %s; time s: k3 %.1f, tfk %.1f" % (
            ", ".join("%s.%s %.1f" % (w, f, results[w]["report"][name]["files"][f] / 1e6)
                      for w in WRITERS for f in FORMATS), r3["total_s"], rt["total_s"]))
        if degenerate(rt["final"]) or degenerate(r3["dependence"]):
            results["tfk"]["problems"].append("%s: output barely depends on the input" % name)

    print("\nlayer classes in the saved files (module where not keras.layers), op layers:")
    for name in only:
        for w in WRITERS:
            seen = {}
            for fmt in FORMATS:
                classes, ops = set(), set()
                describe_layers(saved_config(os.path.join(out, w, "%s.%s" % (name, fmt))),
                                classes, ops)
                seen[fmt] = (sorted(classes), sorted(ops))
            same = seen["keras"] == seen["h5"]
            for fmt in (("keras",) if same else FORMATS):
                classes, ops = seen[fmt]
                print("  %s %s.%s: %s" % (w, name, "keras+h5" if same else fmt,
                                          ", ".join(classes)))
                for o in ops:
                    print("      op: %s" % o)

    problems = results["k3"]["problems"] + results["tfk"]["problems"]
    print("\nproblems:" if problems else "\nno problems (every file reloads in its own Keras "
          "and reproduces its prediction exactly)")
    for p in problems:
        print("  " + p)
    total = sum(os.path.getsize(os.path.join(dp, f))
                for dp, _, fs in os.walk(out) for f in fs)
    print("\n%d manifest entries; %s is %.2f GB; total wall time %.1fs" % (
        len(entries), out, total / 1e9, time.time() - t_start))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "applications"),
                    help="output directory (default: target/applications in the repo)")
    ap.add_argument("--only", help="comma-separated model names (default: every model)")
    ap.add_argument("--list", action="store_true", help="print the model names and exit")
    ap.add_argument("--jax-cache", help="keep jax's compilation cache in this directory "
                    "(faster reruns; default: a temporary one)")
    ap.add_argument("--writer", choices=WRITERS, help=argparse.SUPPRESS)
    ap.add_argument("--weights-dir", help=argparse.SUPPRESS)
    ap.add_argument("--entries", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.list:
        for a in APPS:
            print("%-20s %s %dx%d" % (a.name, a.ctor, a.size, a.size))
        return
    only = [m for m in args.only.split(",") if m] if args.only else None
    unknown = set(only or []) - set(BY_NAME)
    if unknown:
        sys.exit("unknown model(s): %s (see --list)" % ", ".join(sorted(unknown)))
    out = os.path.abspath(args.out)
    if args.writer:
        run_writer(args.writer, out, args.weights_dir, args.entries, set(only), args.jax_cache)
    else:
        main_parent(out, only, args.jax_cache and os.path.abspath(args.jax_cache))


if __name__ == "__main__":
    main()
