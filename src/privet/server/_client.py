"""A small httpx client for a privet server (the CLI's ``--server URL --token T`` mode).

Errors come back as the library's own exceptions (401 → Unauthenticated, 403 → PolicyDenied,
404 → NotFound, 4xx → InvalidInput), so the CLI treats local and remote failures alike.
The token goes only in the Authorization header, and never over plain HTTP to another host.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from privet.errors import (
    BudgetExhausted,
    InvalidInput,
    NotFound,
    PolicyDenied,
    PrivetError,
    Unauthenticated,
)
from privet.policy import GrantRequest
from privet.server._serve import is_loopback


class Client:
    """``Client("https://host:8700", token)``; ``verify`` is a CA file or True (system CAs;
    ``$PRIVET_CA_CERT`` when set)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        verify: str | bool | None = None,
        timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("the server URL must look like https://HOST:PORT")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise InvalidInput(
                "refusing to send a token over plain HTTP to another machine; use https://"
            )
        if not token:
            raise InvalidInput("give a token", parameter="token")
        if verify is None:
            verify = os.environ.get("PRIVET_CA_CERT") or True
        trust = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "privet-cli"},
            verify=trust,
            timeout=timeout,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- calls ----------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise PrivetError(_transport_message(err)) from None
        _raise_for(response)
        return response.json()

    def me(self) -> dict[str, Any]:
        return self._call("GET", "/v1/me")

    def datasets(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/datasets")

    def dataset(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/datasets/{_seg(name)}")

    def budget(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/datasets/{_seg(name)}/budget")

    def query(self, ref: str, sql: str, **fields: Any) -> dict[str, Any]:
        body = {"sql": sql, **{k: v for k, v in fields.items() if v is not None}}
        return self._call("POST", f"/v1/datasets/{_seg(ref)}/query", json=body)

    def grants(self, status: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/grants", params={"status": status} if status else None)

    def request_grant(self, request: GrantRequest) -> dict[str, Any]:
        return self._call("POST", "/v1/grants", json=request.model_dump(mode="json"))

    def decide_grant(self, grant_id: str, verb: str) -> dict[str, Any]:
        if verb not in ("approve", "deny", "revoke"):
            raise InvalidInput(f"unknown grant action {verb!r}")
        return self._call("POST", f"/v1/grants/{_seg(grant_id)}/{verb}")

    def alerts(self, since: int | None = None) -> list[dict[str, Any]]:
        return self._call(
            "GET", "/v1/alerts", params={"since": since} if since is not None else None
        )

    def kpis(self, since: str | None = None, bucket: str = "day") -> dict[str, Any]:
        """The privacy KPIs with their series (``since``: an ISO 8601 time)."""
        params = {"bucket": bucket, **({"since": since} if since is not None else {})}
        return self._call("GET", "/v1/kpis", params=params)

    def psi(
        self, name: str, message: bytes, *, column: str, purpose: str, timeout: float = 3600.0
    ) -> bytes:
        """Send a private set intersection request (``privet.federated``'s message) to the
        server's dataset ``name``; its answer, as bytes. A large set takes minutes: the read
        timeout is ``timeout`` seconds."""
        try:
            response = self._http.post(
                f"/v1/datasets/{_seg(name)}/psi",
                params={"column": column, "purpose": purpose},
                content=message,
                headers={"Content-Type": "application/octet-stream"},
                timeout=httpx.Timeout(60.0, read=timeout),
            )
        except httpx.HTTPError as err:
            raise PrivetError(_transport_message(err)) from None
        _raise_for(response)
        return response.content

    def rows(
        self, ref: str, *, purpose: str, view: str = "raw", fmt: str = "parquet"
    ) -> httpx.Response:
        """The open, streamed response of a governed read (a refusal raises here); close it."""
        params = {"purpose": purpose, "view": view, "format": fmt}
        request = self._http.build_request("GET", f"/v1/datasets/{_seg(ref)}/rows", params=params)
        try:
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as err:
            raise PrivetError(_transport_message(err)) from None
        if response.status_code >= 400:
            try:
                response.read()
            finally:
                response.close()
            _raise_for(response)
        return response

    def export(
        self,
        ref: str,
        destination: Path,
        *,
        purpose: str,
        view: str = "raw",
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Stream a governed read into ``destination`` (.parquet or .csv), atomically: a stream
        the server stops (grant expired or revoked) leaves no file behind."""
        fmt = {".parquet": "parquet", ".csv": "csv"}.get(destination.suffix.lower())
        if fmt is None:
            raise InvalidInput("over HTTP, export writes .parquet or .csv files")
        if destination.exists() and not overwrite:
            raise InvalidInput(
                f"{destination.name} exists (`overwrite` replaces it)", parameter="overwrite"
            )
        partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
        size = 0
        try:
            response = self.rows(ref, purpose=purpose, view=view, fmt=fmt)
            request_id = response.headers.get("x-request-id")
            try:
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        size += len(chunk)
                    out.flush()
                    os.fsync(out.fileno())
            finally:
                response.close()
            partial.replace(destination)
        except httpx.HTTPError:
            raise PolicyDenied(
                "the server stopped the stream before the end (a grant expired or was revoked, "
                "or the connection broke); no file was written"
            ) from None
        except OSError as err:
            raise PrivetError(f"cannot write {destination.name}: {err.strerror}") from None
        finally:
            partial.unlink(missing_ok=True)
        return {"path": str(destination), "bytes": size, "format": fmt, "request_id": request_id}


def _seg(value: str) -> str:
    return quote(value, safe="@")


def _transport_message(err: httpx.HTTPError) -> str:
    if isinstance(err, httpx.ConnectError):
        return "cannot connect to the server (is it running, and is the URL right?)"
    if isinstance(err, httpx.TimeoutException):
        return "the server did not answer in time"
    return f"the connection to the server failed ({type(err).__name__})"


def _raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    try:
        payload = response.json()
        message = str(payload.get("message") or "request refused")
        code = str(payload.get("error") or "")
    except ValueError:
        message, code = f"the server answered {status}", ""
    if status == 401:
        raise Unauthenticated("the server did not accept the token (unknown, expired or revoked)")
    if status == 403:
        raise (BudgetExhausted if code == "budget_exhausted" else PolicyDenied)(message)
    if status == 404:
        raise NotFound(message)
    if status == 429:
        wait = response.headers.get("retry-after", "a few")
        raise PrivetError(f"rate limited by the server; retry in {wait} s")
    if status < 500:
        raise InvalidInput(message)
    request_id = response.headers.get("x-request-id", "?")
    raise PrivetError(f"the server failed ({status}, request {request_id})")
