"""A small client of imagedeploy's (Render-v1-compatible) API. Every failure is an
``ApiError`` (the API answered ``{"id", "message"}`` with a status) or ``Unreachable``."""

from __future__ import annotations

from typing import Any

import httpx

JSON = Any


class ClientError(Exception):
    """A failure the CLI shows as one line (never containing the API key)."""


class ApiError(ClientError):
    """The API refused: its HTTP status and Render's ``{"id", "message"}`` body."""

    def __init__(self, status: int, error_id: str, message: str) -> None:
        super().__init__(f"HTTP {status} {error_id}: {message}")
        self.status = status
        self.error_id = error_id
        self.message = message


class Unreachable(ClientError):
    """No answer from the API (connection refused, timeout, TLS)."""


class ApiClient:
    def __init__(
        self, url: str, api_key: str, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=60,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, *, body: JSON = None, params: dict[str, Any] | None = None
    ) -> JSON:
        try:
            response = self._http.request(
                method,
                path,
                json=body,
                params={k: v for k, v in (params or {}).items() if v is not None},
            )
        except httpx.HTTPError as exc:
            raise Unreachable(f"cannot reach {self.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise _api_error(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(response.status_code, "invalid_response", "not JSON") from None

    def get(self, path: str, **params: Any) -> JSON:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: JSON = None) -> JSON:
        return self.request("POST", path, body=body)

    def patch(self, path: str, body: JSON) -> JSON:
        return self.request("PATCH", path, body=body)

    def put(self, path: str, body: JSON) -> JSON:
        return self.request("PUT", path, body=body)

    def delete(self, path: str) -> JSON:
        return self.request("DELETE", path)

    def items(self, path: str, **params: Any) -> list[JSON]:
        """Every item of a Render list (``[{"<kind>": {...}, "cursor": ...}]``), unwrapped,
        following cursors."""
        found: list[JSON] = []
        cursor: str | None = None
        while True:
            page = self.get(path, limit=100, cursor=cursor, **params)
            if not isinstance(page, list) or not page:
                return found
            found.extend(_unwrap(entry) for entry in page)
            if len(page) < 100:
                return found
            cursor = page[-1].get("cursor")

    def default_owner(self) -> str:
        owners = self.get("/v1/owners")
        if not owners:
            raise ClientError("the API has no workspace (owner)")
        owner_id: str = owners[0]["owner"]["id"]
        return owner_id


def _api_error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        return ApiError(response.status_code, str(body.get("id", "error")), str(body["message"]))
    return ApiError(response.status_code, "error", response.reason_phrase or "request failed")


def _unwrap(entry: JSON) -> JSON:
    if isinstance(entry, dict):
        inner = [v for k, v in entry.items() if k != "cursor"]
        if len(inner) == 1:
            return inner[0]
    return entry
