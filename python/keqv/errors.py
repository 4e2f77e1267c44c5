"""The exceptions of the keqv package."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import Report


class KeqvError(Exception):
    """keqv stopped with an error (exit code 2): a file it cannot read, a layer it cannot run,
    a bad option. The message is keqv's one line: what, where, and what to do."""

    def __init__(self, message: str, *, exit_code: int = 2, stderr: str = ""):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.stderr = stderr


class NotEquivalentError(AssertionError):
    """The models are not equivalent; `report` holds the measurements. An AssertionError, so
    that pytest reports it as a failed test."""

    def __init__(self, report: "Report"):
        super().__init__(str(report))
        self.report = report
