"""keqv's commands as Python functions. Each builds a command line from its keywords, runs the
`keqv` binary installed with this package and reads its JSON (or its output file), so a call
behaves exactly as the command does. Exit code 2 raises KeqvError with keqv's message."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

from . import _binary
from ._args import Args, path_text
from ._staging import Staging
from .report import Report


def verify(
    original: Any,
    converted: Any,
    *,
    atol: Any = None,
    rtol: Any = None,
    per_layer: bool = False,
    inputs: Any = None,
    batch: Optional[int] = None,
    seed: Optional[int] = None,
    distribution: Optional[str] = None,
    device: str = "auto",
    converted_device: Optional[str] = None,
    adapter: Optional[str] = None,
    custom: Optional[dict[str, str]] = None,
    original_custom: Optional[dict[str, str]] = None,
    converted_custom: Optional[dict[str, str]] = None,
    custom_file: Any = None,
    weights: Optional[dict[str, Any]] = None,
    input_shape: Optional[dict[str, Any]] = None,
    chunk: Optional[int] = None,
    junit: Any = None,
    html: Any = None,
    threads: Optional[int] = None,
) -> Report:
    """Runs both models on the same inputs and compares their outputs (`keqv verify`).

    `original` and `converted` are paths to `.keras`/`.h5` files or in-memory Keras models
    (saved to a temporary `.keras` for the run). `atol`/`rtol`: a number, or {output: number}.
    `inputs`: a `.npy`/`.npz` path, an array, or {input name: array}; else random inputs
    (`seed`, `batch`, `distribution`). `custom`: {class or layer name: built-in} for both
    models (`original_custom`/`converted_custom` for one). `weights`: {"original": FILE,
    "converted": FILE}. Not equivalent is a Report, not an exception."""
    with tempfile.TemporaryDirectory(prefix="keqv-") as folder:
        staging = Staging(folder)
        args = Args(
            "verify",
            staging.model("original", original),
            staging.model("converted", converted),
            "--format",
            "json",
        )
        weights = _sides(weights, "weights")
        args.path("--original-weights", "weights['original']", weights.get("original"))
        args.path("--converted-weights", "weights['converted']", weights.get("converted"))
        args.mapping("--custom", "custom", custom)
        args.mapping("--original-custom", "original_custom", original_custom)
        args.mapping("--converted-custom", "converted_custom", converted_custom)
        args.paths("--custom-file", "custom_file", custom_file)
        args.shapes("--input-shape", "input_shape", input_shape)
        _inputs(args, staging, inputs, seed, batch, distribution)
        _device(args, device, adapter)
        args.text("--converted-device", "converted_device", converted_device)
        args.tolerance("--atol", "atol", atol)
        args.tolerance("--rtol", "rtol", rtol)
        args.flag("--per-layer", "per_layer", per_layer)
        args.integer("--chunk", "chunk", chunk)
        args.path("--junit", "junit", junit)
        args.path("--html", "html", html)
        args.integer("--threads", "threads", threads)
        done = _binary.run(args.words, ok_codes=(0, 1))
        return Report(json.loads(done.stdout), staging.sources)


class ConvertResult:
    """What `keqv convert` did. `written`: whether it wrote `path`; `reasons`: why not (the
    nodes that keep the model from being a Sequential model); `report`: the verification of
    the written file against the model (None with verify=False or when nothing was written);
    `text`: the command's own output."""

    def __init__(self, path: Path, written: bool, text: str, report: Optional[Report]):
        self.path = path
        self.written = written
        self.text = text
        self.report = report
        self.reasons = [line[4:] for line in text.splitlines() if line.startswith("  - ")]

    @property
    def equivalent(self) -> Optional[bool]:
        """The verdict on the written file; None when it was not verified."""
        return self.report.equivalent if self.report is not None else None

    def __repr__(self) -> str:
        if not self.written:
            return f"<keqv.ConvertResult nothing written: {'; '.join(self.reasons)}>"
        return f"<keqv.ConvertResult wrote {self.path}, equivalent={self.equivalent}>"

    def __str__(self) -> str:
        return self.text


def convert(
    model_or_path: Any,
    out: Any,
    blocks: bool = False,
    *,
    dialect: str = "keras3",
    verify: bool = True,
    force: bool = False,
    device: str = "auto",
    adapter: Optional[str] = None,
    custom: Optional[dict[str, str]] = None,
    custom_file: Any = None,
    weights: Any = None,
    input_shape: Optional[dict[str, Any]] = None,
    threads: Optional[int] = None,
) -> ConvertResult:
    """Writes the model as a Sequential model to `out` (`.keras` or `.h5`) and verifies it
    (`keqv convert`). A model that cannot be one is a result with `written` False and the
    `reasons`; `blocks=True` writes a model with skip connections or branches as a Sequential
    model of layers and blocks. `dialect`: "keras3" or "tf-keras"."""
    out = Path(path_text("out", out))
    with tempfile.TemporaryDirectory(prefix="keqv-") as folder:
        staging = Staging(folder)
        model = staging.model("model", model_or_path)
        args = Args("convert", model, "-o", str(out))
        args.text("--dialect", "dialect", dialect)
        args.flag("--blocks", "blocks", blocks)
        args.flag("--force", "force", force)
        args.flag("--no-verify", "verify", not _bool("verify", verify))
        model_options = _model_options(Args(), custom, custom_file, weights, input_shape)
        device_options = _device(Args(), device, adapter).integer("--threads", "threads", threads)
        args.words += model_options.words + device_options.words
        before = _identity(out)
        done = _binary.run(args.words, ok_codes=(0, 1))
        # keqv writes beside OUT and renames into place: a new file is a new inode.
        written = _identity(out) not in (None, before)
        report = None
        if written and verify:
            report = _verify_written(model, out, model_options, device_options, staging)
        return ConvertResult(out, written, done.stdout, report)


def _verify_written(
    model: str, out: Path, model_options: Args, device_options: Args, staging: Staging
) -> Report:
    """The verdict `keqv convert` printed, as a Report: the same settings (the model's
    weights loaded on the original, its mappings on both, random inputs)."""
    words = ["verify", model, str(out), "--format", "json"]
    for option, value in zip(model_options.words[::2], model_options.words[1::2]):
        words += ["--original-weights" if option == "--weights" else option, value]
    done = _binary.run(words + device_options.words, ok_codes=(0, 1))
    sources = {"original": staging.sources.get("model", model)}
    return Report(json.loads(done.stdout), sources)


def run(
    model_or_path: Any,
    inputs: Any = None,
    *,
    seed: Optional[int] = None,
    batch: Optional[int] = None,
    distribution: Optional[str] = None,
    device: str = "auto",
    adapter: Optional[str] = None,
    custom: Optional[dict[str, str]] = None,
    custom_file: Any = None,
    weights: Any = None,
    input_shape: Optional[dict[str, Any]] = None,
    chunk: Optional[int] = None,
    threads: Optional[int] = None,
) -> dict[str, Any]:
    """Runs the model (`keqv run`) on `inputs` (a `.npy`/`.npz` path, an array, or {input
    name: array}) or on seeded random inputs; returns {output layer name: numpy array}."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="keqv-") as folder:
        staging = Staging(folder)
        output = staging.file("outputs.npz")
        args = Args("run", staging.model("model", model_or_path), "--output", output)
        _model_options(args, custom, custom_file, weights, input_shape)
        _inputs(args, staging, inputs, seed, batch, distribution)
        _device(args, device, adapter)
        args.integer("--chunk", "chunk", chunk)
        args.integer("--threads", "threads", threads)
        _binary.run(args.words)
        with np.load(output) as archive:
            return {name: archive[name] for name in archive.files}


def inspect(
    model_or_path: Any,
    *,
    custom: Optional[dict[str, str]] = None,
    custom_file: Any = None,
    weights: Any = None,
    input_shape: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """The model's format, inputs, outputs and layers, and whether keqv can run it
    (`keqv inspect --format json`)."""
    with tempfile.TemporaryDirectory(prefix="keqv-") as folder:
        staging = Staging(folder)
        args = Args("inspect", staging.model("model", model_or_path), "--format", "json")
        _model_options(args, custom, custom_file, weights, input_shape)
        return json.loads(_binary.run(args.words).stdout)


def _model_options(
    args: Args, custom: Any, custom_file: Any, weights: Any, input_shape: Any
) -> Args:
    """The options every command that reads one model takes."""
    args.path("--weights", "weights", weights)
    args.mapping("--custom", "custom", custom)
    args.paths("--custom-file", "custom_file", custom_file)
    args.shapes("--input-shape", "input_shape", input_shape)
    return args


def _inputs(
    args: Args, staging: Staging, inputs: Any, seed: Any, batch: Any, distribution: Any
) -> None:
    # Passed as given: keqv refuses random-input settings beside an inputs file.
    args.path("--inputs", "inputs", staging.inputs(inputs))
    args.integer("--seed", "seed", seed)
    args.integer("--batch", "batch", batch)
    args.text("--distribution", "distribution", distribution)


def _device(args: Args, device: Any, adapter: Any) -> Args:
    if not isinstance(device, str):
        raise TypeError(f"device must be a str such as 'auto', 'cpu' or 'gpu', got {device!r}")
    args.text("--device", "device", device)
    return args.text("--adapter", "adapter", adapter)


def _sides(value: Any, keyword: str) -> dict[str, Any]:
    """{"original": …, "converted": …}, either side optional."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(
            f'{keyword} must be a dict with "original" and/or "converted", '
            f"got {type(value).__name__}"
        )
    unknown = set(value) - {"original", "converted"}
    if unknown:
        raise TypeError(
            f'{keyword}: unknown side(s) {sorted(unknown)}; use "original" and/or "converted"'
        )
    return value


def _bool(keyword: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{keyword} must be True or False, got {value!r}")
    return value


def _identity(path: Path) -> Optional[tuple[int, int, int]]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns)
