"""A small JSON client for the few writes the controller makes (status, Events, Lease).

kopf owns the watches; this client shares kopf's credentials (the same
`ConnectionInfo`) but has its own aiohttp session, so a status PATCH never
queues behind a long-lived watch connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import kopf

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {message}")
        self.status = status


class KubeClient:
    def __init__(self, connect: Callable[[], kopf.ConnectionInfo], timeout: float = 10.0) -> None:
        self._connect = connect
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
        status, text = await self._send(method, path, body, content_type)
        if status == 401:
            # Expired credentials (a rotated token): log in again once.
            await self.close()
            status, text = await self._send(method, path, body, content_type)
        if status >= 300:
            raise ApiError(method, path, status, _message(text))
        loaded = json.loads(text) if text else {}
        return loaded if isinstance(loaded, dict) else {}

    async def _send(
        self, method: str, path: str, body: Mapping[str, Any] | None, content_type: str
    ) -> tuple[int, str]:
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if body is not None else {}
        async with self._open().request(
            method, self._server + path, data=data, headers=headers
        ) as rsp:
            return rsp.status, await rsp.text()

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
