"""The dashboard's only way to read or change anything: the public API, called in process.

Each call is an API Gateway HTTP API event with the signed-in user's key as its Bearer
credential, resolved by the same resolver that serves ``/v1`` over HTTP; so authentication,
workspace scoping, validation, rate limits and error messages are exactly the API's."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

Resolve = Callable[[Mapping[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    status: int
    data: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        """The API's error message (``{"id", "message"}``), or a generic line."""
        message = self.data.get("message") if isinstance(self.data, dict) else None
        if isinstance(message, str):
            return message
        return f"the API answered {self.status}"


class ApiCallError(Exception):
    """An API call the page cannot do without (e.g. the service it shows): shown as its
    status and the API's message."""

    def __init__(self, answer: ApiAnswer) -> None:
        super().__init__(answer.message)
        self.answer = answer


class InProcessApi:
    def __init__(self, resolve: Resolve, context: Any) -> None:
        self._resolve = resolve
        self._context = context

    def call(
        self,
        api_key: str,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> ApiAnswer:
        params = {k: v for k, v in (query or {}).items() if v not in ("", None)}
        headers = {"authorization": f"Bearer {api_key}"}
        text = None
        if body is not None:
            text = json.dumps(body)
            headers["content-type"] = "application/json"
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": urlencode(params),
            "headers": headers,
            "queryStringParameters": params or None,
            "requestContext": {
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": ""},
                "requestId": f"dashboard-{time.monotonic_ns()}",
                "stage": "$default",
                "timeEpoch": int(time.time() * 1000),
            },
            "body": text,
            "isBase64Encoded": False,
        }
        result = self._resolve(event, self._context)
        status = int(result.get("statusCode", 500))
        payload = result.get("body") or ""
        if result.get("isBase64Encoded"):
            payload = base64.b64decode(payload).decode("utf-8", "replace")
        try:
            data = json.loads(payload) if payload else None
        except json.JSONDecodeError:
            data = payload
        return ApiAnswer(status, data)

    def must(self, api_key: str, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.call(api_key, method, path, **kwargs)
        if not answer.ok:
            raise ApiCallError(answer)
        return answer.data
