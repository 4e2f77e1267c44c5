"""The `keqv` command the wheel installs: it is the one the package runs, and it gives the same
answers as the binary built by cargo."""

import json
import os
import subprocess
import sysconfig
from pathlib import Path

import keqv
import pytest

# Fields that measure how long a run took, the only ones two runs may differ in.
TIMING_FIELDS = {"duration_s"}


def cargo_binary():
    path = os.environ.get("KEQV_CARGO_BIN")
    if not path:
        message = "KEQV_CARGO_BIN (the cargo-built keqv to compare with) is not set"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(path)


def test_the_package_runs_the_installed_command():
    if os.environ.get("KEQV_BIN"):
        pytest.skip("KEQV_BIN points the package at another binary")
    assert keqv.find_binary().parent == Path(sysconfig.get_path("scripts"))
    assert Path(keqv.__file__).parent.parent == Path(sysconfig.get_path("purelib"))
    version = subprocess.run(
        [str(keqv.find_binary()), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.split() == ["keqv", keqv.__version__]


def without_timing(value):
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING_FIELDS}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def suite_json(binary, models, out):
    done = subprocess.run(
        [str(binary), "suite", str(models / "suite.toml"), "--device", "cpu", "--json", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.mark.cargo
def test_suite_json_matches_the_cargo_build(models, tmp_path):
    cargo = suite_json(cargo_binary(), models, tmp_path / "cargo.json")
    wheel = suite_json(keqv.find_binary(), models, tmp_path / "wheel.json")
    assert cargo["total"] == len(cargo["cases"]) > 100
    for ours, theirs in zip(wheel["cases"], cargo["cases"]):
        assert without_timing(ours) == without_timing(theirs), ours["name"]
    assert without_timing(wheel) == without_timing(cargo)
