"""keqv: prove or disprove that a converted Keras model computes the same function as its
original, from Python.

    report = keqv.verify("model.h5", "converted.keras", per_layer=True)
    keqv.convert("model.h5", "model_seq.keras")
    outputs = keqv.run("model.keras", inputs)

The work is done by the `keqv` binary installed with this package (no TensorFlow, no Keras
needed to read files; a Lambda layer is never executed); Keras is needed only to pass
in-memory models, which are saved to a temporary `.keras` archive for the call.
"""

from importlib.metadata import PackageNotFoundError, version

from ._binary import find_binary
from .api import ConvertResult, convert, inspect, run, verify
from .errors import KeqvError, NotEquivalentError
from .report import Layer, OutputMetrics, Report

try:
    __version__ = version("keqv")
except PackageNotFoundError:  # imported from a source tree, not installed
    __version__ = "0+unknown"

__all__ = [
    "ConvertResult",
    "KeqvError",
    "Layer",
    "NotEquivalentError",
    "OutputMetrics",
    "Report",
    "convert",
    "find_binary",
    "inspect",
    "run",
    "verify",
]
