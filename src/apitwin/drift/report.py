"""What a drift run prints and writes: the console summary, and the .md or .json report with every
disagreement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apitwin.drift.compare import Answer
from apitwin.drift.result import DriftResult, Exchange, OperationSummary

CONSOLE_LIMIT = 20  # disagreements printed in full; the report file has every one


def summary_lines(result: DriftResult, limit: int | None = CONSOLE_LIMIT) -> list[str]:
    """The console report: per-operation agreement, the fidelity score, then each disagreement."""
    scope = "safe methods only (--read-only)" if result.read_only else "every method (--all-methods)"
    summaries = result.by_operation()
    width = max([len("operation"), *map(len, summaries)])
    lines = [
        f"apitwin drift {result.api}: {len(result.exchanges)} requests to a twin started for the run and to "
        f"{result.target_url}; {scope}, seed {result.seed}, {result.cases} cases per operation",
        "",
        f"  {'operation':<{width}} {'requests':>8} {'agreed':>7}  disagreements",
    ]
    for operation, summary in summaries.items():
        lines.append(f"  {operation:<{width}} {summary.requests:>8} {summary.agreed:>7}  {_kinds(summary) or '-'}")
    lines += ["", _fidelity_line(result)]
    disagreeing = result.disagreeing
    for number, exchange in enumerate(disagreeing[:limit], start=1):
        lines += ["", f"disagreement {number} of {len(disagreeing)}: {_heading(exchange)}"]
        lines += [f"  {line}" for line in _exchange_lines(result, exchange)]
    if limit is not None and len(disagreeing) > limit:
        lines += ["", f"{len(disagreeing) - limit} more disagreement(s): --report FILE lists every one"]
    return lines


def _kinds(summary: OperationSummary) -> str:
    counts = sorted((kind.value, count) for kind, count in summary.kinds.items())
    return ", ".join(f"{kind} ×{count}" for kind, count in counts)


def _fidelity_line(result: DriftResult) -> str:
    if result.fidelity is None:
        return (
            "fidelity not measured: no request was answered with a 2xx by both sides "
            f"(twin {_statuses(result, 'twin')}; target {_statuses(result, 'target')})"
        )
    agreed = len(result.exchanges) - len(result.disagreeing)
    return f"fidelity {result.fidelity:.1f}% ({agreed} of {len(result.exchanges)} requests answered alike)"


def _statuses(result: DriftResult, side: str) -> str:
    counts = result.statuses(side)
    return " ".join(f"{status}×{count}" for status, count in sorted(counts.items())) or "no answer"


def _heading(exchange: Exchange) -> str:
    kinds = ", ".join(disagreement.kind.value for disagreement in exchange.disagreements)
    return f"{exchange.request.operation} ({exchange.request.origin}): {kinds}"


def _exchange_lines(result: DriftResult, exchange: Exchange) -> list[str]:
    return [
        result.curl(exchange.request),
        f"twin   {exchange.twin.status} {exchange.twin.media_type or '-'} {exchange.twin.preview()}",
        f"target {exchange.target.status} {exchange.target.media_type or '-'} {exchange.target.preview()}",
        *(f"- {disagreement.kind.value}: {disagreement.detail}" for disagreement in exchange.disagreements),
    ]


def markdown_report(result: DriftResult) -> str:
    scope = "safe methods only" if result.read_only else "every method"
    lines = [
        f"# Drift of the {result.api} twin against {result.target_url}",
        "",
        f"{len(result.exchanges)} requests ({scope}; seed {result.seed}, {result.cases} cases per operation).",
        f"**{_fidelity_line(result)}**",
        "",
        "| operation | requests | agreed | disagreements |",
        "|---|---:|---:|---|",
    ]
    for operation, summary in result.by_operation().items():
        lines.append(f"| `{operation}` | {summary.requests} | {summary.agreed} | {_kinds(summary) or '-'} |")
    for number, exchange in enumerate(result.disagreeing, start=1):
        lines += ["", f"## {number}. {_heading(exchange)}", "", "```", *_exchange_lines(result, exchange), "```"]
    return "\n".join(lines) + "\n"


def json_report(result: DriftResult) -> dict[str, Any]:
    def answer(side: Answer) -> dict[str, Any]:
        preview = side.preview()
        return {"status": side.status, "media_type": side.media_type, "body": preview, "violation": side.violation}

    return {
        "api": result.api,
        "target": result.target_url,
        "seed": result.seed,
        "cases": result.cases,
        "read_only": result.read_only,
        "requests": len(result.exchanges),
        "agreed": len(result.exchanges) - len(result.disagreeing),
        "both_succeeded": result.both_succeeded,
        "fidelity": None if result.fidelity is None else round(result.fidelity, 1),
        "operations": {
            operation: {
                "requests": summary.requests,
                "agreed": summary.agreed,
                "disagreements": {kind.value: count for kind, count in summary.kinds.items()},
            }
            for operation, summary in result.by_operation().items()
        },
        "exchanges": [
            {
                "operation": exchange.request.operation,
                "origin": exchange.request.origin,
                "method": exchange.request.method,
                "curl": result.curl(exchange.request),
                "twin": answer(exchange.twin),
                "target": answer(exchange.target),
                "disagreements": [{"kind": d.kind.value, "detail": d.detail} for d in exchange.disagreements],
            }
            for exchange in result.exchanges
        ],
    }


def write_report(result: DriftResult, path: Path) -> None:
    text = json.dumps(json_report(result), indent=2) + "\n" if path.suffix == ".json" else markdown_report(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
