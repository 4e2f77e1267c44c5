"""keqv.verify on the repository's fixture files: verdicts, metrics, options, reports."""

import json
import subprocess
import sys

import keqv
import numpy as np
import pytest


def test_equivalent_files(models):
    report = keqv.verify(
        models / "tfk/c_func_skip.h5", models / "k3/c_func_skip_reimpl.keras", device="cpu"
    )
    assert report.equivalent
    assert report.raise_if_not_equivalent() is report
    [out] = report.outputs
    assert (out.name, out.converted_name, out.max_abs, out.mismatches, out.passed) == (
        "out",
        "logits",
        0,
        0,
        True,
    )
    assert report.output("out").count == 80
    assert report.first_divergence is None
    assert report.to_dict()["equivalent"] is True
    assert str(report).startswith("EQUIVALENT\n")


def test_dropped_skip_connection_is_found(models):
    report = keqv.verify(
        models / "tfk/c_func_skip.h5",
        models / "k3/c_seq_skip_dropped.keras",
        per_layer=True,
        device="cpu",
    )
    assert not report.equivalent
    assert report.output("out").mismatches == 80
    divergence = report.first_divergence
    assert (divergence.original, divergence.converted) == ("out", "dense_2")
    assert "the original out takes add" in divergence.rewired
    assert divergence.own.max_abs > 0.2
    assert [layer.converted for layer in report.layers] == ["dense", "dense_1", "dense_2"]
    with pytest.raises(keqv.NotEquivalentError) as raised:
        report.raise_if_not_equivalent()
    assert isinstance(raised.value, AssertionError)
    assert raised.value.report is report


def test_per_output_tolerance(models):
    pair = (models / "k3/a_seq_mlp.keras", models / "k3/a_seq_mlp_perturbed.keras")
    inputs = models / "inputs/a_seq_mlp_perturbed.npy"
    assert not keqv.verify(*pair, inputs=inputs, device="cpu").equivalent
    loose = keqv.verify(*pair, inputs=inputs, atol={"dense_1": 1e-4}, device="cpu")
    assert loose.equivalent
    assert loose.output("dense_1").tolerance == {"atol": 1e-4, "rtol": 1e-5}


def test_inputs_as_array_and_as_file_agree(models):
    pair = (models / "k3/a_seq_mlp.keras", models / "k3/a_seq_mlp_perturbed.keras")
    from_file = keqv.verify(*pair, inputs=models / "inputs/a_seq_mlp.npy", device="cpu")
    array = np.load(models / "inputs/a_seq_mlp.npy")
    from_array = keqv.verify(*pair, inputs=array, device="cpu")
    by_name = keqv.verify(*pair, inputs={"input_layer": array}, device="cpu")
    assert (
        from_file.outputs[0].max_abs
        == from_array.outputs[0].max_abs
        == by_name.outputs[0].max_abs
        > 0
    )
    assert from_array.outputs[0].count == array.shape[0] * 10


def test_random_inputs_follow_seed_and_batch(models):
    pair = (models / "k3/a_seq_mlp.keras", models / "k3/a_seq_mlp_perturbed.keras")
    report = keqv.verify(*pair, seed=3, batch=5, device="cpu")
    assert report.to_dict()["batch"] == 5
    assert "seed 3" in report.to_dict()["inputs"]


def test_weights_and_custom_mappings(models):
    fresh = models / "k3/a_seq_mlp_freshinit.keras"
    assert not keqv.verify(models / "k3/a_seq_mlp.keras", fresh, device="cpu").equivalent
    loaded = keqv.verify(
        models / "k3/a_seq_mlp.keras",
        fresh,
        device="cpu",
        weights={"converted": models / "k3/a_seq_mlp.weights.h5"},
    )
    assert loaded.equivalent
    mapped = keqv.verify(
        models / "tfk/b_seq_custom.h5",
        models / "k3/b_seq_custom.keras",
        device="cpu",
        custom={"FeatureNormalization": "l2_normalize"},
    )
    assert mapped.equivalent
    assert (
        mapped.to_dict()["assumptions"]["original"]["custom_mappings"][0]["builtin"]
        == "l2_normalize"
    )


def test_report_files(models, tmp_path):
    keqv.verify(
        models / "tfk/c_func_skip.h5",
        models / "k3/c_seq_skip_dropped.keras",
        device="cpu",
        junit=tmp_path / "r.xml",
        html=tmp_path / "r.html",
    )
    assert "<failure" in (tmp_path / "r.xml").read_text()
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_notebook_rendering(models):
    report = keqv.verify(
        models / "tfk/c_func_skip.h5",
        models / "k3/c_seq_skip_dropped.keras",
        per_layer=True,
        device="cpu",
    )
    page = report._repr_html_()
    assert "NOT EQUIVALENT" in page and "<table>" in page and "first divergence: dense_2" in page
    assert "not equivalent" in repr(report)


def test_errors_carry_keqvs_message(models):
    with pytest.raises(keqv.KeqvError) as missing:
        keqv.verify(models / "tfk/nope.h5", models / "k3/c_func_skip.keras")
    assert missing.value.exit_code == 2
    assert "nope.h5: cannot read it" in str(missing.value)
    assert "\n" not in str(missing.value)
    with pytest.raises(keqv.KeqvError, match="'tpu' is not one of auto, cpu"):
        keqv.verify(models / "tfk/c_func_skip.h5", models / "k3/c_func_skip.keras", device="tpu")
    with pytest.raises(keqv.KeqvError, match="Lambda"):
        keqv.verify(models / "k3/f_lambda.keras", models / "k3/f_lambda.h5", device="cpu")
    with pytest.raises(keqv.KeqvError, match="--custom"):
        keqv.verify(models / "tfk/b_seq_custom.h5", models / "k3/b_seq_custom.keras", device="cpu")
    with pytest.raises(keqv.KeqvError, match="nope"):
        keqv.verify(
            models / "tfk/c_func_skip.h5", models / "k3/c_func_skip.keras", atol={"nope": 1e-3}
        )


def test_wrong_keywords_and_types_raise(models):
    pair = (models / "tfk/c_func_skip.h5", models / "k3/c_func_skip.keras")
    with pytest.raises(TypeError):
        keqv.verify(*pair, tolerance=1e-3)
    with pytest.raises(TypeError, match="per_layer must be True or False"):
        keqv.verify(*pair, per_layer="yes")
    with pytest.raises(TypeError, match="batch must be an int"):
        keqv.verify(*pair, batch=2.5)
    with pytest.raises(TypeError, match="unknown side"):
        keqv.verify(*pair, weights={"orig": "w.h5"})
    with pytest.raises(TypeError, match="a path to a .keras/.h5 file or a keras.Model"):
        keqv.verify(42, pair[1])


def test_import_does_not_import_keras():
    code = (
        "import sys, keqv; "
        "print(sorted(m for m in ('keras', 'tensorflow', 'tf_keras') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out.replace("'", '"')) == []


def test_damaged_hdf5_files_end_in_one_line(models, tmp_path, monkeypatch):
    # The wheel's binary has its own HDF5 (compiled in); damaged files must still end in
    # keqv's one-line error, never a crash or a hang (tests/bad_inputs.rs checks the system's).
    monkeypatch.setenv("KEQV_HDF5_STALL_SECS", "2")
    good = (models / "tfk/c_func_skip.h5").read_bytes()
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(
        keqv.KeqvError, match=f"truncated: it has {len(good) // 2} of its {len(good)} bytes"
    ):
        keqv.inspect(truncated)
    for start, fill in [
        (128, 0),
        (640, 0),
        (704, 255),
        (1664, 255),
        (2112, 0),
        (4416, 0),
        (4672, 255),
    ]:
        damaged = tmp_path / f"damaged_{start}.h5"
        damaged.write_bytes(good[:start] + bytes([fill]) * 64 + good[start + 64 :])
        with pytest.raises(keqv.KeqvError) as raised:
            keqv.inspect(damaged)
        assert raised.value.exit_code == 2
        assert str(raised.value).startswith(f"{damaged}: ") and "\n" not in str(raised.value)
        assert len(raised.value.stderr.strip().splitlines()) == 1, raised.value.stderr
