"""The exchanges of one drift run, and what they add up to: per-operation agreement and a fidelity score."""

from __future__ import annotations

import shlex
from collections import Counter
from dataclasses import dataclass, field

from apitwin.drift.compare import Answer, Disagreement, DisagreementKind
from apitwin.drift.planning import PlannedRequest


@dataclass(frozen=True)
class Exchange:
    request: PlannedRequest
    twin: Answer
    target: Answer
    disagreements: tuple[Disagreement, ...]

    @property
    def agreed(self) -> bool:
        return not self.disagreements


@dataclass(frozen=True)
class OperationSummary:
    requests: int = 0
    agreed: int = 0
    kinds: Counter[DisagreementKind] = field(default_factory=Counter)


@dataclass(frozen=True)
class DriftResult:
    api: str
    target_url: str
    auth_hint: str  # how the API sends a credential, e.g. "Authorization: Bearer {credential}"
    seed: int
    cases: int
    read_only: bool
    exchanges: tuple[Exchange, ...]

    @property
    def disagreeing(self) -> list[Exchange]:
        return [exchange for exchange in self.exchanges if not exchange.agreed]

    @property
    def both_succeeded(self) -> int:
        """Requests both sides answered with a 2xx: the comparisons that say something about the API."""
        return sum(
            1 for exchange in self.exchanges if exchange.twin.status // 100 == exchange.target.status // 100 == 2
        )

    @property
    def fidelity(self) -> float | None:
        """Percentage of requests answered alike by both sides; None when no request was answered with a 2xx by
        both (each side refused or failed every request, so agreeing on that says nothing)."""
        if not self.both_succeeded:
            return None
        agreed = sum(exchange.agreed for exchange in self.exchanges)
        return 100.0 * agreed / len(self.exchanges)

    def statuses(self, side: str) -> Counter[int]:
        """The statuses one side ("twin" or "target") answered, for telling why nothing was compared."""
        return Counter(getattr(exchange, side).status for exchange in self.exchanges)

    def by_operation(self) -> dict[str, OperationSummary]:
        summaries: dict[str, OperationSummary] = {}
        for exchange in self.exchanges:
            before = summaries.get(exchange.request.operation, OperationSummary())
            kinds = before.kinds + Counter(disagreement.kind for disagreement in exchange.disagreements)
            summaries[exchange.request.operation] = OperationSummary(
                before.requests + 1, before.agreed + exchange.agreed, kinds
            )
        return summaries

    def curl(self, request: PlannedRequest) -> str:
        """The request as sent to the target, as a curl command with the credential masked."""
        parts = ["curl", "-X", request.method, shlex.quote(request.url(self.target_url))]
        parts += ["-H", shlex.quote(self.auth_hint.format(credential="***"))]
        for name, value in request.headers:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
        if request.body is not None:
            parts += ["--data-binary", shlex.quote(request.body.decode("utf-8", "backslashreplace"))]
        return " ".join(parts)
