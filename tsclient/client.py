"""HTTP client for TorchServe's inference and management APIs with token authorization.

TorchServe writes its tokens to ``key_file.json`` in its working directory; the client reads them
from there and re-reads them once after a 401 (tokens expire and can be regenerated).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

__all__ = ["Reply", "TorchServeClient"]


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]


class TorchServeClient:
    def __init__(self, inference_url: str, management_url: str, key_file: Path, timeout: float = 60.0) -> None:
        self.inference_url = inference_url.rstrip("/")
        self.management_url = management_url.rstrip("/")
        self.key_file = Path(key_file)
        self.timeout = timeout
        self._keys: dict[str, str] | None = None

    # -- inference --------------------------------------------------------------------------
    def predict_bytes(self, model: str, data: bytes, content_type: str) -> Reply:
        return self._call("inference", "POST", f"/predictions/{model}", data=data, headers={"Content-Type": content_type})

    def predict_json(self, model: str, payload: Any) -> Reply:
        return self._call("inference", "POST", f"/predictions/{model}", json=payload)

    def predict_base64(self, model: str, data: bytes, **options: Any) -> Reply:
        return self.predict_json(model, {"image": base64.b64encode(data).decode("ascii"), **options})

    def predict_form(self, model: str, files: Mapping[str, tuple[str, bytes, str]], fields: Mapping[str, str] | None = None) -> Reply:
        return self._call("inference", "POST", f"/predictions/{model}", files=dict(files), data=dict(fields or {}))

    def ping(self) -> Reply:
        return self._call("inference", "GET", "/ping")

    # -- management -------------------------------------------------------------------------
    def list_status(self) -> int:
        """HTTP status of ``GET /models`` (200 once the management API is up)."""
        return self._call("management", "GET", "/models").status

    def models(self) -> list[str]:
        return [m["modelName"] for m in self._call("management", "GET", "/models").body.get("models", [])]

    def status(self, model: str) -> Reply:
        return self._call("management", "GET", f"/models/{model}")

    def register(self, url: str) -> Reply:
        """``POST /models?url=...``: refused while the config keeps the model API off."""
        return self._call("management", "POST", "/models", params={"url": url})

    def describe(self, model: str) -> dict[str, Any]:
        """The archive's manifest, from ``GET /models/NAME?customized=true``."""
        reply = self._call("management", "GET", f"/models/{model}?customized=true")
        if reply.status != 200:
            raise RuntimeError(f"describe {model}: HTTP {reply.status}: {reply.body}")
        custom = reply.body[0].get("customizedMetadata")
        return json.loads(custom) if isinstance(custom, str) else custom

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, api: str, method: str, path: str, **kwargs: Any) -> Reply:
        base = self.inference_url if api == "inference" else self.management_url
        for attempt in (1, 2):
            headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {self._key(api, reload=attempt == 2)}"}
            response = requests.request(method, base + path, headers=headers, timeout=self.timeout, **kwargs)
            if response.status_code != 401:
                break
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return Reply(response.status_code, body, dict(response.headers))

    def token(self, api: str) -> str:
        """The current ``inference`` or ``management`` token from the key file."""
        return self._key(api)

    def _key(self, api: str, reload: bool = False) -> str:
        if self._keys is None or reload:
            data = json.loads(self.key_file.read_text(encoding="utf-8"))
            self._keys = {"inference": data["inference"]["key"], "management": data["management"]["key"]}
        return self._keys[api]
