"""A shared `apitwin serve` seen from another process (the pytest plugin's `--apitwin-url`, `apitwin check
--url`): its index and control plane, every call in one session (see apitwin.sessions), so that runs sharing
the server never see each other. Light on purpose: the pytest plugin imports it in every run."""

from __future__ import annotations

import functools
import os
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

SESSION_HEADER = "X-Apitwin-Session"
ADMIN_TOKEN_ENV = "APITWIN_ADMIN_TOKEN"  # as `apitwin serve` reads it


class SharedServerError(Exception):
    """The shared server cannot be reached, or refused a call; the message names the call and the answer."""


def made_up_session(role: str) -> str:
    """A session name of this process's own: the role (`pytest`, `check-dataiku`), the xdist worker if any, and
    a random part, so parallel runs and workers never pick the same one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return "-".join(part for part in (role, worker, uuid.uuid4().hex[:8]) if part)


@dataclass(frozen=True)
class SharedServer:
    """An apitwin server at `origin` (its root URL), used in `session`."""

    origin: str
    session: str
    admin_token: str | None = field(default=None, repr=False)  # for a server beyond loopback

    @property
    def headers(self) -> dict[str, str]:
        """What every request to the server carries: the session, and the admin token when there is one."""
        token = {"Authorization": f"Bearer {self.admin_token}"} if self.admin_token else {}
        return {SESSION_HEADER: self.session, **token}

    def control(self, method: str, path: str, **options: Any) -> httpx.Response:
        """A control-plane call (`path` below /__apitwin) in the session; SharedServerError on a refusal."""
        response = self._send(method, f"/__apitwin{path}", **options)
        if response.status_code >= 400:
            raise SharedServerError(
                f"apitwin at {self.origin}: {method} /__apitwin{path} answered {response.status_code} {response.text}"
            )
        return response

    def twin(self, name: str) -> dict[str, Any]:
        """The twin as the server's index lists it: base_url, spec_url, credential (the session's)."""
        served = self._twins.get(name)
        if served is None:
            raise ValueError(f"no twin named {name!r}; apitwin at {self.origin} serves {sorted(self._twins)}")
        return served

    def reset(self, twin: str | None = None) -> None:
        """The session's twin (or every twin, and its clock) back to the fixtures."""
        self.control("POST", "/reset" + (f"/{twin}" if twin else ""))

    def delete_session(self) -> None:
        """Forget the session on the server (its state goes with it); one already gone is no error, a refusal (a
        wrong admin token) is: the session would hold one of the server's places until it expires."""
        response = self._send("DELETE", f"/__apitwin/sessions/{self.session}")
        if response.status_code not in (204, 404):
            raise SharedServerError(
                f"apitwin at {self.origin}: DELETE /__apitwin/sessions/{self.session} answered "
                f"{response.status_code} {response.text}"
            )

    @functools.cached_property
    def _twins(self) -> dict[str, dict[str, Any]]:
        response = self._send("GET", "/")
        if response.status_code != 200:
            raise SharedServerError(f"apitwin at {self.origin}: GET / answered {response.status_code} {response.text}")
        return {twin["name"]: twin for twin in response.json()["twins"]}

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        import httpx

        try:
            return httpx.request(method, self.origin + path, headers=self.headers, timeout=30, **options)
        except httpx.TransportError as exc:
            raise SharedServerError(f"cannot reach apitwin at {self.origin}: {exc or type(exc).__name__}") from None
