"""The verdict of `keqv verify`, read from its JSON report (schemas/report.schema.json)."""

from __future__ import annotations

import html
import math
from typing import Any, Optional

from .errors import NotEquivalentError


class Fields:
    """A JSON object of the report whose keys read as attributes (`metrics.max_abs`)."""

    def __init__(self, fields: dict[str, Any]):
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None

    def __getitem__(self, name: str) -> Any:
        return self._fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._fields.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._fields)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._fields!r})"


class OutputMetrics(Fields):
    """One output's comparison: name, converted_name, shape, tolerance, count, max_abs,
    max_rel, mean_abs, snr_db, worst_index, worst_original, worst_converted, mismatches,
    nan_mismatch, inf_mismatch, min_atol_to_pass, top1_agreement, passed, histogram."""


class Layer(Fields):
    """One pair of layers of a per-layer comparison: original, converted, class, `own` and
    `accumulated` metrics, isolated, and `rewired` where the wiring differs."""

    @property
    def own(self) -> Optional[OutputMetrics]:
        own = self._fields.get("own")
        return OutputMetrics(own) if own is not None else None

    @property
    def accumulated(self) -> Optional[OutputMetrics]:
        accumulated = self._fields.get("accumulated")
        return OutputMetrics(accumulated) if accumulated is not None else None

    def describe(self) -> str:
        """One line: the pair, its own error and why it diverges."""
        text = f"{self.converted} ({self.get('class')}) ↔ {self.original}"
        own = self.own
        if own is not None:
            text += f": own max_abs {_num(own.max_abs)}"
            if own.worst_index is not None:
                text += f" at {list(own.worst_index)}"
        if self.get("rewired"):
            text += f"; rewired: {self.rewired}"
        if self.get("note"):
            text += f"; {self.note}"
        return text


class Report:
    """What `keqv verify` found. `equivalent` is the verdict; `outputs` the per-output
    metrics; `first_divergence` the first layer whose own error exceeds the tolerance (with
    per_layer=True); `to_dict()` the whole JSON report."""

    def __init__(self, document: dict[str, Any], sources: Optional[dict[str, str]] = None):
        self._document = document
        structure = document.get("structure", {})
        # In-memory models are saved to temporary files; name them as the caller knows them.
        self.sources = {
            side: (sources or {}).get(side) or structure.get(side, {}).get("path", "?")
            for side in ("original", "converted")
        }

    @property
    def equivalent(self) -> bool:
        return bool(self._document["equivalent"])

    @property
    def outputs(self) -> list[OutputMetrics]:
        return [OutputMetrics(o) for o in self._document.get("outputs", [])]

    def output(self, name: str) -> OutputMetrics:
        """The metrics of the output named `name` (the original's output name)."""
        for metrics in self.outputs:
            if metrics.name == name:
                return metrics
        names = ", ".join(o.name for o in self.outputs)
        raise KeyError(f"no output {name!r}; the outputs are {names}")

    @property
    def layers(self) -> list[Layer]:
        return [Layer(layer) for layer in self._document.get("layers", [])]

    @property
    def first_divergence(self) -> Optional[Layer]:
        layer = self._document.get("first_divergence")
        return Layer(layer) if layer is not None else None

    @property
    def findings(self) -> list[str]:
        return list(self._document.get("findings", []))

    @property
    def warnings(self) -> list[str]:
        return list(self._document.get("warnings", []))

    @property
    def device(self) -> str:
        return self._document.get("device", "")

    def to_dict(self) -> dict[str, Any]:
        return self._document

    def raise_if_not_equivalent(self) -> "Report":
        """Raises `NotEquivalentError` (an AssertionError holding this report) unless the
        models are equivalent; returns the report otherwise."""
        if not self.equivalent:
            raise NotEquivalentError(self)
        return self

    def __repr__(self) -> str:
        verdict = "equivalent" if self.equivalent else "not equivalent"
        return f"<keqv.Report {verdict}: {self.sources['original']} vs {self.sources['converted']}>"

    def __str__(self) -> str:
        lines = [
            "EQUIVALENT" if self.equivalent else "NOT EQUIVALENT",
            f"  original   {self.sources['original']}",
            f"  converted  {self.sources['converted']}",
            f"  device     {self.device}",
            f"  inputs     {self._document.get('inputs', '')}",
            f"  tolerance  {_tolerance(self._document.get('tolerance', {}))}",
            "",
        ]
        lines += _table(_OUTPUT_HEADER, [_output_row(o) for o in self.outputs])
        lines += [f"finding: {f}" for f in self.findings]
        lines += [f"warning: {w}" for w in self.warnings]
        divergence = self.first_divergence
        if divergence is not None:
            lines.append(f"first divergence: {divergence.describe()}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        verdict = "EQUIVALENT" if self.equivalent else "NOT EQUIVALENT"
        colour = "#1a7f37" if self.equivalent else "#cf222e"
        head = "".join(f"<th>{html.escape(h)}</th>" for h in _OUTPUT_HEADER)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _output_row(o)) + "</tr>"
            for o in self.outputs
        )
        notes = [f"finding: {f}" for f in self.findings] + [f"warning: {w}" for w in self.warnings]
        if self.first_divergence is not None:
            notes.append(f"first divergence: {self.first_divergence.describe()}")
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        return (
            f'<div class="keqv-report"><p><b style="color:{colour}">{verdict}</b> '
            f"{html.escape(self.sources['original'])} vs {html.escape(self.sources['converted'])}"
            f" on {html.escape(self.device)}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            f"{'<ul>' + items + '</ul>' if items else ''}</div>"
        )


_OUTPUT_HEADER = ["output", "shape", "max_abs", "max_rel", "mean_abs", "mismatches", "verdict"]


def _output_row(o: OutputMetrics) -> list[str]:
    name = o.name if o.get("converted_name") in (None, o.name) else f"{o.name} ↔ {o.converted_name}"
    shape = "(" + ", ".join("None" if d is None else str(d) for d in o.get("shape", [])) + ")"
    return [
        name,
        shape,
        _num(o.get("max_abs")),
        _num(o.get("max_rel")),
        _num(o.get("mean_abs")),
        f"{o.get('mismatches')}/{o.get('count')}",
        "pass" if o.get("passed") else "FAIL",
    ]


def _tolerance(tolerance: dict[str, Any]) -> str:
    atol, rtol = _num(tolerance.get("atol")), _num(tolerance.get("rtol"))
    return f"|a − b| ≤ {atol} + {rtol}·|b| (b: the original)"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        for row in [header, *rows]
    ]


def _num(value: Any) -> str:
    """A metric as the CLI prints it: 0, 2.81e-1, or - where JSON has null (NaN)."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:.2e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
