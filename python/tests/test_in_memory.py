"""keqv.verify, convert and run on Keras 3 models built in the test, never saved by it."""

import os

import keqv
import numpy as np
import pytest
from keqv.testing import assert_equivalent

pytestmark = pytest.mark.keras

# The lightest backend in keqv's test environment; a user's own choice is kept.
os.environ.setdefault("KERAS_BACKEND", "jax")


@pytest.fixture
def keras():
    import keras

    return keras


def skip_model(keras):
    inputs = keras.Input((12,), name="x")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    mixed = keras.layers.Add(name="add")([hidden, keras.layers.Dense(16, name="shortcut")(inputs)])
    outputs = keras.layers.Dense(4, activation="softmax", name="probs")(mixed)
    return keras.Model(inputs, outputs, name="skip")


def twin(keras, model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def test_equivalent_twin_and_perturbed_twin(keras):
    model = skip_model(keras)
    report = keqv.verify(model, twin(keras, model), per_layer=True, device="cpu")
    assert report.equivalent and report.outputs[0].max_abs == 0
    assert report.sources["original"] == "<in-memory Functional 'skip'>"
    assert "<in-memory Functional 'skip'>" in str(report)

    perturbed = twin(keras, model)
    kernel, bias = perturbed.get_layer("shortcut").get_weights()
    kernel[3, 5] += 1e-2
    perturbed.get_layer("shortcut").set_weights([kernel, bias])
    report = keqv.verify(model, perturbed, per_layer=True, device="cpu")
    assert not report.equivalent
    assert report.first_divergence.converted == "shortcut"
    with pytest.raises(AssertionError, match="first divergence: shortcut"):
        assert_equivalent(model, perturbed, device="cpu")


def test_in_memory_against_a_file_and_keras_predictions(keras, tmp_path):
    model = skip_model(keras)
    path = tmp_path / "skip.keras"
    model.save(path)
    assert_equivalent(path, model, device="cpu")
    inputs = np.random.default_rng(0).normal(size=(6, 12)).astype(np.float32)
    outputs = keqv.run(model, {"x": inputs}, device="cpu")
    np.testing.assert_allclose(outputs["probs"], model.predict(inputs, verbose=0), atol=1e-6)


def test_custom_layer_mapped(keras):
    @keras.saving.register_keras_serializable(package="tests")
    class UnitRows(keras.layers.Layer):
        def call(self, x):
            return x / keras.ops.sqrt(
                keras.ops.maximum(keras.ops.sum(x * x, axis=-1, keepdims=True), 1e-12)
            )

    inputs = keras.Input((8,))
    original = keras.Model(inputs, UnitRows(name="unit")(keras.layers.Dense(8, name="d")(inputs)))
    converted = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(8, name="d"), keras.layers.UnitNormalization()]
    )
    converted.set_weights(original.get_weights())
    with pytest.raises(keqv.KeqvError, match="UnitRows"):
        keqv.verify(original, converted, device="cpu")
    report = keqv.verify(
        original, converted, custom={"UnitRows": "l2_normalize"}, device="cpu", atol=1e-6
    )
    assert report.equivalent, str(report)


def test_convert_in_memory_and_keras_loads_it(keras, tmp_path):
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, name="a")], name="flat")
    chain = keras.Model(model.inputs, keras.layers.Activation("tanh", name="t")(model.outputs[0]))
    out = tmp_path / "chain_seq.keras"
    result = keqv.convert(chain, out, device="cpu")
    assert result.written and result.equivalent
    loaded = keras.saving.load_model(out)
    assert type(loaded).__name__ == "Sequential"
    inputs = np.ones((2, 5), np.float32)
    np.testing.assert_allclose(
        loaded.predict(inputs, verbose=0), chain.predict(inputs, verbose=0), atol=1e-6
    )
