"""A small JSON client for the few writes the controller makes (status, Events, Lease).

kopf owns the watches; this client shares kopf's credentials (the same
`ConnectionInfo`) but has its own aiohttp session, so a status PATCH never
queues behind a long-lived watch connection.

An API server that is overloaded (API Priority and Fairness) answers `429
Too Many Requests`, and sometimes `503`, with a `Retry-After`: the request is
sent again after that many seconds, as client-go does, at most
`RETRIES` times, and never sooner than `MIN_RETRY_AFTER`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import kopf

log = logging.getLogger(__name__)

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"

RETRIES = 10  # client-go's maxRetries for Retry-After
MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 60.0


def retry_after(status: int, header: str | None) -> float | None:
    """Seconds to wait before sending a request again, or None if it must not be retried."""
    if status != 429 and not (status == 503 and header):
        return None
    try:
        seconds = float(header) if header else MIN_RETRY_AFTER
    except ValueError:  # an HTTP date: the API server never sends one
        seconds = MIN_RETRY_AFTER
    return min(MAX_RETRY_AFTER, max(MIN_RETRY_AFTER, seconds))


class ApiError(Exception):
    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {message}")
        self.status = status


class KubeClient:
    def __init__(self, connect: Callable[[], kopf.ConnectionInfo], timeout: float = 10.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._connect = connect
        self._sleep = sleep
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._server = ""

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            info = self._connect()
            self._server = info.server.rstrip("/")
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=info.as_ssl_context()),
                headers={**info.as_http_headers(), "User-Agent": "portico"},
                timeout=self._timeout,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> JSON:
        """One API call; raises ApiError for non-2xx and aiohttp errors for transport failures."""
        status, text, wait = await self._send(method, path, body, content_type)
        if status == 401:
            # Expired credentials (a rotated token): log in again once.
            await self.close()
            status, text, wait = await self._send(method, path, body, content_type)
        for _ in range(RETRIES):
            if wait is None:
                break
            log.info("%s %s: HTTP %d, sending it again in %.0f s", method, path, status, wait)
            await self._sleep(wait)
            status, text, wait = await self._send(method, path, body, content_type)
        if status >= 300:
            raise ApiError(method, path, status, _message(text))
        loaded = json.loads(text) if text else {}
        return loaded if isinstance(loaded, dict) else {}

    async def _send(
        self, method: str, path: str, body: Mapping[str, Any] | None, content_type: str
    ) -> tuple[int, str, float | None]:
        """Status, body text, and how long to wait before a retry (None: no retry)."""
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if body is not None else {}
        async with self._open().request(
            method, self._server + path, data=data, headers=headers
        ) as rsp:
            return rsp.status, await rsp.text(), retry_after(rsp.status,
                                                             rsp.headers.get("Retry-After"))

    async def get(self, path: str) -> JSON:
        return await self.request("GET", path)

    async def list_items(self, path: str, page: int = 500) -> AsyncIterator[JSON]:
        """The items of a list call, fetched `page` at a time (limit/continue)."""
        separator = "&" if "?" in path else "?"
        token = ""
        while True:
            suffix = f"{separator}limit={page}" + (f"&continue={quote(token)}" if token else "")
            listing = await self.get(path + suffix)
            for item in listing.get("items") or ():
                if isinstance(item, dict):
                    yield item
            metadata = listing.get("metadata")
            token = metadata.get("continue", "") if isinstance(metadata, dict) else ""
            if not token:
                return

    async def post(self, path: str, body: Mapping[str, Any]) -> JSON:
        return await self.request("POST", path, body)

    async def merge_patch(self, path: str, body: Mapping[str, Any]) -> JSON:
        return await self.request("PATCH", path, body, MERGE_PATCH)


def _message(text: str) -> str:
    try:
        status = json.loads(text)
    except ValueError:
        return text[:200]
    message = status.get("message") if isinstance(status, dict) else None
    if isinstance(message, str):
        return message
    return text[:200]
