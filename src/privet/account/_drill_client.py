"""The attacker's side of a drill, over HTTP only: requests with a stolen bearer token (a slow
scraper waits out the rate limit), and the ground truth of what they received."""

from __future__ import annotations

import io
import time

import httpx
import polars as pl

from privet.account._drill_models import Scope
from privet.errors import InvalidInput

SUBJECT = "drill_subject"  # the subject-id column of a drill's disposable datasets


class Truth:
    """What the attacker actually received."""

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self.reads = 0
        self.rows = 0
        self.subjects: set[str] = set()

    def add(self, body: bytes) -> None:
        frame = pl.read_parquet(io.BytesIO(body))
        self.reads += 1
        self.rows += frame.height
        self.subjects.update(frame[SUBJECT].cast(pl.String).to_list())

    def scope(self) -> Scope:
        datasets = [self.dataset] if self.reads else []
        return Scope(
            datasets=datasets, reads=self.reads, rows=self.rows, subjects=len(self.subjects)
        )


class Client:
    """The server under drill."""

    def __init__(self, server: str, *, verify: bool | str) -> None:
        self.http = httpx.Client(base_url=server.rstrip("/"), timeout=30, verify=verify)

    def close(self) -> None:
        self.http.close()

    def check(self) -> None:
        try:
            self.http.get("/openapi.json").raise_for_status()
        except httpx.HTTPError:
            raise InvalidInput(
                f"no privet service answers at {str(self.http.base_url)[:200]} (start one with "
                "`privet serve` on this workspace)",
                parameter="server",
            ) from None

    def get(
        self, path: str, token: str, params: dict[str, str | int] | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(20):
            response = self.http.get(path, headers=headers, params=params)
            if response.status_code != 429:
                return response
            # The server's per-token rate limit: a slow scraper waits, as a real one would.
            time.sleep(float(response.headers.get("Retry-After", "1")))
        return response

    def read(
        self,
        truth: Truth,
        token: str,
        purpose: str,
        page: tuple[int, int] | None = None,
    ) -> httpx.Response:
        """Read ``truth``'s dataset (one ``(offset, limit)`` page, or whole); what comes back
        is added to ``truth``."""
        params: dict[str, str | int] = {"purpose": purpose, "format": "parquet"}
        if page is not None:
            params.update(offset=page[0], limit=page[1])
        response = self.get(f"/v1/datasets/{truth.dataset}/rows", token, params)
        if response.status_code == 200:
            truth.add(response.content)
        return response
