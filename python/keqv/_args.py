"""Python keywords turned into keqv's command-line options. Each value is checked for its
type here (a wrong type raises TypeError rather than meaning something else on the command
line); whether a value makes sense (a device name, a negative tolerance) is keqv's to judge,
and a value it refuses raises KeqvError with its message."""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any


class Args:
    """A growing command line."""

    def __init__(self, *words: str):
        self.words = list(words)

    def path(self, option: str, keyword: str, value: Any) -> "Args":
        if value is not None:
            self.words += [option, path_text(keyword, value)]
        return self

    def paths(self, option: str, keyword: str, value: Any) -> "Args":
        """A path, or a list of them (a repeatable option)."""
        if value is None:
            return self
        values = [value] if isinstance(value, (str, os.PathLike)) else value
        if not isinstance(values, Sequence):
            raise TypeError(
                f"{keyword} must be a path or a list of paths, got {type(value).__name__}"
            )
        for v in values:
            self.path(option, keyword, v)
        return self

    def flag(self, option: str, keyword: str, value: Any) -> "Args":
        if not isinstance(value, bool):
            raise TypeError(f"{keyword} must be True or False, got {value!r}")
        if value:
            self.words.append(option)
        return self

    def integer(self, option: str, keyword: str, value: Any) -> "Args":
        if value is None:
            return self
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{keyword} must be an int, got {value!r}")
        self.words += [option, str(int(value))]
        return self

    def text(self, option: str, keyword: str, value: Any) -> "Args":
        if value is None:
            return self
        if not isinstance(value, str):
            raise TypeError(f"{keyword} must be a str, got {value!r}")
        self.words += [option, value]
        return self

    def tolerance(self, option: str, keyword: str, value: Any) -> "Args":
        """A number for every output, or {output name: number} (the original's names)."""
        if value is None:
            return self
        if isinstance(value, Mapping):
            for name, v in value.items():
                if not isinstance(name, str):
                    raise TypeError(f"{keyword}: output names must be str, got {name!r}")
                self.words += [option, f"{name}:{number_text(keyword, v)}"]
        else:
            self.words += [option, number_text(keyword, value)]
        return self

    def mapping(self, option: str, keyword: str, value: Any) -> "Args":
        """Custom layer mappings {NAME: BUILTIN} as repeated NAME=BUILTIN options."""
        if value is None:
            return self
        if not isinstance(value, Mapping):
            raise TypeError(
                f"{keyword} must be a dict of NAME: BUILTIN, got {type(value).__name__}"
            )
        for name, builtin in value.items():
            if not isinstance(name, str) or not isinstance(builtin, str):
                raise TypeError(
                    f"{keyword}: names and built-ins must be str, got {name!r}: {builtin!r}"
                )
            self.words += [option, f"{name}={builtin}"]
        return self

    def shapes(self, option: str, keyword: str, value: Any) -> "Args":
        """Open input dimensions {input name: (d1, d2, ...)} as NAME=D1,D2 options."""
        if value is None:
            return self
        if not isinstance(value, Mapping):
            raise TypeError(
                f"{keyword} must be a dict of input name: shape, got {type(value).__name__}"
            )
        for name, dims in value.items():
            if isinstance(dims, (str, bytes)) or not isinstance(dims, Sequence):
                raise TypeError(f"{keyword}[{name!r}] must be a sequence of ints, got {dims!r}")
            if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in dims):
                raise TypeError(f"{keyword}[{name!r}] must be a sequence of ints, got {dims!r}")
            self.words += [option, f"{name}={','.join(str(int(d)) for d in dims)}"]
        return self


def path_text(keyword: str, value: Any) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(
            f"{keyword} must be a path (str or os.PathLike), got {type(value).__name__}"
        )
    return os.fspath(value)


def number_text(keyword: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{keyword} must be a number, got {value!r}")
    return repr(float(value))
