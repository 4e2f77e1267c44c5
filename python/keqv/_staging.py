"""What the binary needs as files: in-memory Keras models saved as `.keras` archives, and
input arrays saved as `.npy`/`.npz`, in a temporary folder that lives for one call."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Modules whose classes are Keras models: Keras 3, tf-keras, and TensorFlow's own copies.
_KERAS_MODULES = ("keras", "tf_keras", "tensorflow")


def is_keras_model(value: Any) -> bool:
    """Whether `value` is a Keras model, told from its class's module so that keqv never
    imports Keras (or TensorFlow) itself."""
    if not callable(getattr(value, "save", None)):
        return False
    return any(
        cls.__module__.split(".")[0] in _KERAS_MODULES
        and cls.__name__ in ("Model", "Functional", "Sequential")
        for cls in type(value).__mro__
    )


class Staging:
    """A temporary folder for one call's files, and how each model was given."""

    def __init__(self, folder: str):
        self.folder = Path(folder)
        # Side ("original", "converted", "model") to how the caller knows it, for reports.
        self.sources: dict[str, str] = {}

    def model(self, role: str, value: Any) -> str:
        """The path of a model given as a path, or of an in-memory Keras model saved here."""
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
        if not is_keras_model(value):
            raise TypeError(
                f"{role} must be a path to a .keras/.h5 file or a keras.Model, "
                f"got {type(value).__module__}.{type(value).__name__}"
            )
        name = getattr(value, "name", None) or "model"
        path = self.folder / f"{role}_{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.keras"
        value.save(str(path))
        self.sources[role] = f"<in-memory {type(value).__name__} {name!r}>"
        return str(path)

    def inputs(self, value: Any) -> str | None:
        """An inputs file: a path as given; one array saved as `.npy`; {input name: array}
        saved as `.npz`."""
        if value is None:
            return None
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
        import numpy as np

        if isinstance(value, Mapping):
            arrays = {}
            for name, array in value.items():
                if not isinstance(name, str):
                    raise TypeError(f"inputs: input names must be str, got {name!r}")
                arrays[name] = np.asarray(array)
            path = self.folder / "inputs.npz"
            np.savez(path, **arrays)
            return str(path)
        if isinstance(value, (list, tuple)):
            raise TypeError(
                "inputs: pass one array, or a dict of input name: array for several inputs"
            )
        if not hasattr(value, "__array__"):
            raise TypeError(
                "inputs must be a path, an array or a dict of input name: array, "
                f"got {type(value).__name__}"
            )
        path = self.folder / "inputs.npy"
        np.save(path, np.asarray(value))
        return str(path)

    def file(self, name: str) -> str:
        return str(self.folder / name)
