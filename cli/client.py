"""The HTTP API as the CLI calls it: JSON in and out, the function key in `x-functions-key`, and every
failure (app not reachable, an error answer) turned into a `CliError` naming what to do."""

from __future__ import annotations

from typing import Any

import requests

from cli.errors import CliError
from shared.platform.settings import ClientSettings


class Api:
    def __init__(self, settings: ClientSettings, timeout: float = 60.0):
        self.base = settings.api_url.rstrip("/")
        self.headers = {"x-functions-key": settings.function_key} if settings.function_key else {}
        self.timeout = timeout
        self.session = requests.Session()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("POST", path, body=body)

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None) -> Any:
        url = f"{self.base}/api/{path.lstrip('/')}"
        try:
            response = self.session.request(method, url, params={k: v for k, v in (params or {}).items()
                                                                 if v is not None},
                                            json=body, headers=self.headers, timeout=self.timeout)
        except requests.ConnectionError:
            raise CliError(f"cannot reach the app at {self.base}: is it running (./driftline start)? "
                           "Set DRIFTLINE_API_URL to reach another one.") from None
        except requests.Timeout:
            raise CliError(f"the app at {self.base} did not answer {method} {url} within {self.timeout:.0f} s.") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            if response.status_code == 401 and not message:
                message = "the app refused the function key: set DRIFTLINE_FUNCTION_KEY"
            raise CliError(message or f"{method} {url} answered HTTP {response.status_code}.")
        if data is None:
            raise CliError(f"{method} {url} answered HTTP {response.status_code} without JSON.")
        return data
