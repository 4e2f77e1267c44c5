"""keqv.run and keqv.convert on the repository's fixtures."""

import json

import keqv
import numpy as np
import pytest


def fixtures(models, **wanted):
    entries = json.loads((models / "fixtures.json").read_text())
    return [e for e in entries if all(e.get(k) == v for k, v in wanted.items())]


@pytest.mark.parametrize("name", ["a_seq_mlp", "c_func_skip", "e_nested"])
def test_run_reproduces_keras_predictions(models, name):
    entries = fixtures(models, model=name, runnable=True)
    assert entries
    for entry in entries:
        root = models.parent
        weights = root / entry["weights"] if entry["weights"] else None
        outputs = keqv.run(
            root / entry["path"],
            root / entry["input"],
            weights=weights,
            custom=entry["custom"] or None,
            device="cpu",
        )
        expected = np.load(root / entry["expected"])
        [(output_name, got)] = outputs.items()
        assert got.shape == expected.shape, entry["path"]
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5, err_msg=entry["path"])


def test_run_several_outputs_and_random_inputs(models):
    outputs = keqv.run(models / "k3/a_seq_mlp.keras", batch=3, seed=1, device="cpu")
    assert list(outputs) == ["dense_1"]
    assert outputs["dense_1"].shape == (3, 10) and outputs["dense_1"].dtype == np.float32
    again = keqv.run(models / "k3/a_seq_mlp.keras", batch=3, seed=1, device="cpu")
    np.testing.assert_array_equal(outputs["dense_1"], again["dense_1"])
    inputs = np.load(models / "inputs/a_seq_mlp.npy")
    by_array = keqv.run(models / "k3/a_seq_mlp.keras", inputs, device="cpu")
    assert by_array["dense_1"].shape == (inputs.shape[0], 10)


def test_run_refuses_inputs_beside_a_seed(models):
    with pytest.raises(keqv.KeqvError, match="seed"):
        keqv.run(models / "k3/a_seq_mlp.keras", models / "inputs/a_seq_mlp.npy", seed=2)


def test_convert_a_chain(models, tmp_path):
    out = tmp_path / "nested_seq.keras"
    result = keqv.convert(models / "tfk/e_nested.h5", out, device="cpu")
    assert result.written and out.is_file()
    assert result.equivalent is True
    assert result.report.to_dict()["structure"]["converted"]["chain"] is True
    assert result.text.startswith(f"wrote {out}: Sequential")
    # keqv reads back what it wrote, and computes what the original computes.
    inputs = np.load(models / "inputs/e_nested.npy")
    [original] = keqv.run(models / "tfk/e_nested.h5", inputs, device="cpu").values()
    [written] = keqv.run(out, inputs, device="cpu").values()
    np.testing.assert_array_equal(original, written)


def test_convert_explains_a_graph_that_is_not_a_chain(models, tmp_path):
    out = tmp_path / "skip.keras"
    result = keqv.convert(models / "k3/c_func_skip.keras", out, device="cpu")
    assert not result.written and not out.exists()
    assert result.report is None and result.equivalent is None
    assert "dense_x feeds 2 layers (dense_y, add): a skip connection" in result.reasons
    blocks = keqv.convert(models / "k3/c_func_skip.keras", out, blocks=True, device="cpu")
    assert blocks.written and blocks.equivalent
    assert "block_2_add" in blocks.text


def test_convert_without_verifying_and_its_errors(models, tmp_path):
    out = tmp_path / "mlp.h5"
    result = keqv.convert(models / "k3/a_seq_mlp.keras", out, dialect="tf-keras", verify=False)
    assert result.written and result.report is None
    with pytest.raises(keqv.KeqvError, match="exists; pass --force"):
        keqv.convert(models / "k3/a_seq_mlp.keras", out)
    assert keqv.convert(models / "k3/a_seq_mlp.keras", out, force=True, device="cpu").equivalent
    with pytest.raises(keqv.KeqvError, match="dialect"):
        keqv.convert(models / "k3/a_seq_mlp.keras", tmp_path / "x.keras", dialect="keras2")
