"""keqv.testing.assert_equivalent and the message a failing test shows."""

import keqv
import pytest
from keqv.testing import assert_equivalent


def test_passes_and_returns_the_report(models):
    report = assert_equivalent(
        models / "tfk/c_func_skip.h5", models / "k3/c_func_skip_reimpl.keras", device="cpu"
    )
    assert report.equivalent and report.layers  # per-layer by default


def test_failure_message_shows_the_table_and_the_first_divergence(models):
    with pytest.raises(AssertionError) as failed:
        assert_equivalent(
            models / "tfk/c_func_skip.h5", models / "k3/c_seq_skip_dropped.keras", device="cpu"
        )
    message = str(failed.value)
    lines = message.splitlines()
    assert lines[0] == "NOT EQUIVALENT"
    header = next(line for line in lines if line.strip().startswith("output"))
    assert header.split() == [
        "output",
        "shape",
        "max_abs",
        "max_rel",
        "mean_abs",
        "mismatches",
        "verdict",
    ]
    row = lines[lines.index(header) + 1].split()
    assert row[:3] == ["out", "↔", "dense_2"] and row[-2:] == ["80/80", "FAIL"]
    assert "first divergence: dense_2 (Dense) ↔ out: own max_abs 2.81e-1 at [5, 8]" in message
    assert isinstance(failed.value, keqv.NotEquivalentError)


def test_tolerances_pass_through(models):
    pair = (models / "k3/a_seq_mlp.keras", models / "k3/a_seq_mlp_perturbed.keras")
    inputs = models / "inputs/a_seq_mlp_perturbed.npy"
    with pytest.raises(AssertionError, match="dense_1"):
        assert_equivalent(*pair, inputs=inputs, device="cpu")
    assert_equivalent(*pair, inputs=inputs, atol=1e-4, device="cpu")
