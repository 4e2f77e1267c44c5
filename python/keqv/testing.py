"""Assertions for test suites:

from keqv.testing import assert_equivalent

def test_conversion():
    assert_equivalent("model.h5", "model.keras", atol=1e-4)
"""

from __future__ import annotations

from typing import Any

from .api import verify
from .errors import NotEquivalentError
from .report import Report


def assert_equivalent(original: Any, converted: Any, **options: Any) -> Report:
    """Verifies the two models (paths or in-memory Keras models) with `keqv.verify`'s
    keywords and raises NotEquivalentError, an AssertionError, unless they are equivalent.
    The message holds the per-output table and the first divergent layer: layers are
    compared unless per_layer=False is passed. Returns the report."""
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    options.setdefault("per_layer", True)
    report = verify(original, converted, **options)
    if not report.equivalent:
        raise NotEquivalentError(report)
    return report
