"""HTTP client for TorchServe's inference and management APIs with token authorization.

TorchServe writes its tokens to ``key_file.json`` in its working directory; the client reads them
from there and, when TorchServe refuses one, re-reads the file once, first renewing the token with
the file's API key if the file says it has expired (TorchServe then rewrites the file).

Every call returns TorchServe's own answer as a ``Reply`` (status, JSON body, headers), errors
included, so a caller sees TorchServe's message as it is. A model's version goes in the path
(``/predictions/NAME/VERSION``, ``/models/NAME/VERSION``): TorchServe 0.12 ignores a version
given in the query string and answers from the default version instead.

    client = TorchServeClient.from_config("config/config.properties", "key_file.json")
    client.register("tiny-2.0.mar")                  # a second version beside the first
    client.set_default("tiny", "2.0")                # /predictions/tiny now answers from 2.0
    client.scale("tiny", 2, version="2.0")           # 2 workers for that version
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from ..errors import MarkitError
from .properties import read_properties, server_urls
from .retry import DEFAULT_RETRY, RetryPolicy
from .tokens import KeyFile

__all__ = ["NoManifest", "Reply", "RequestFailed", "TorchServeClient", "connection_problem", "has_ready_worker", "manifest_of"]



class RequestFailed(MarkitError):
    """TorchServe answered a call that has to succeed with an error status: exit 1."""


class NoManifest(MarkitError):
    """TorchServe answered 200 without the archive's manifest (an archive this project did not build): exit 1."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _path(*parts: str | None) -> str:
    """``/models/NAME/VERSION`` with each part quoted; ``None`` parts (no version) are left out."""
    return "".join(f"/{quote(str(part), safe='')}" for part in parts if part is not None)


def _params(**values: Any) -> dict[str, str]:
    """Query parameters that were given; booleans as TorchServe spells them."""
    return {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in values.items() if value is not None}


class TorchServeClient:
    def __init__(self, inference_url: str, management_url: str, key_file: Path | None, timeout: float = 60.0,
                 retry: RetryPolicy = DEFAULT_RETRY) -> None:
        """``key_file=None`` sends no token (a server with ``disable_token_authorization=true``); ``retry``:
        how predictions are sent again after a dropped connection, a 503 or a 507 (``NO_RETRY``: never)."""
        self.inference_url = inference_url.rstrip("/")
        self.management_url = management_url.rstrip("/")
        self.key_file = None if key_file is None else Path(key_file)
        self.timeout = timeout
        self.retry = retry
        self.retries = 0  # predictions sent again so far (a figure for reports)
        self._keys: dict[str, str] | None = None
        self._random = random.Random()
        self._sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_config(cls, config: Path, key_file: Path | None = Path("key_file.json"), timeout: float = 60.0,
                    retry: RetryPolicy = DEFAULT_RETRY) -> TorchServeClient:
        """The server a ``config.properties`` describes (a wildcard address becomes loopback); no token
        when the config turns token authorization off."""
        urls = server_urls(Path(config))
        auth_off = read_properties(Path(config)).get("disable_token_authorization", "false").strip().lower() == "true"
        return cls(urls["inference"], urls["management"], None if auth_off else key_file, timeout, retry)

    # -- inference --------------------------------------------------------------------------
    def predict_bytes(self, model: str, data: bytes, content_type: str, version: str | None = None) -> Reply:
        return self._predict(model, version, data=data, headers={"Content-Type": content_type})

    def predict_json(self, model: str, payload: Any, version: str | None = None) -> Reply:
        return self._predict(model, version, json=payload)

    def predict_base64(self, model: str, data: bytes, *, version: str | None = None, **options: Any) -> Reply:
        return self.predict_json(model, {"image": base64.b64encode(data).decode("ascii"), **options}, version)

    def predict_form(self, model: str, files: Mapping[str, tuple[str, bytes, str]], fields: Mapping[str, str] | None = None,
                     version: str | None = None) -> Reply:
        return self._predict(model, version, files=dict(files), data=dict(fields or {}))

    def _predict(self, model: str, version: str | None, **kwargs: Any) -> Reply:
        """Predictions change nothing on the server: sent again under ``self.retry`` (retry.py) after a dropped
        connection, a 503, or a 507/500 saying the worker died."""
        started = time.monotonic()
        for attempt in range(1, self.retry.attempts + 1):
            last = attempt == self.retry.attempts
            try:
                reply = self._call("inference", "POST", _path("predictions", model, version), **kwargs)
            except requests.ConnectionError:
                if last or time.monotonic() - started > self.retry.budget:
                    raise
                retry_after = None
            else:
                if not self.retry.retryable(reply.status, reply.body) or last or time.monotonic() - started > self.retry.budget:
                    return reply
                retry_after = {k.lower(): v for k, v in reply.headers.items()}.get("retry-after")
            self.retries += 1
            self._sleep(self.retry.delay(attempt, retry_after, self._random))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def ping(self) -> Reply:
        return self._call("inference", "GET", "/ping")

    # -- management: reading ----------------------------------------------------------------
    def list_models(self, limit: int | None = None, next_page_token: str | None = None) -> Reply:
        """``GET /models``: one entry per model name (its default version); ``nextPageToken`` when more follow."""
        return self._call("management", "GET", "/models", params=_params(limit=limit, next_page_token=next_page_token))

    def models(self) -> list[str]:
        """Every registered model name, all pages followed."""
        names: list[str] = []
        token: str | None = None
        while True:
            body = self.list_models(next_page_token=token).body
            names += [m["modelName"] for m in body.get("models", [])]
            token = body.get("nextPageToken")
            if not token or not body.get("models"):
                return names

    def list_status(self) -> int:
        """HTTP status of ``GET /models`` (200 once the management API is up)."""
        return self.list_models().status

    def status(self, model: str, version: str | None = None, customized: bool = False) -> Reply:
        """``GET /models/NAME[/VERSION]``: a list with one entry per version asked (``version="all"``: every one).
        ``customized=True`` adds the archive's manifest, but TorchServe leaves it out for ``all``."""
        return self._call("management", "GET", _path("models", model, version), params=_params(customized=customized or None))

    def describe(self, model: str, version: str | None = None) -> dict[str, Any]:
        """The archive's manifest, from ``GET /models/NAME[/VERSION]?customized=true``."""
        reply = self.status(model, version, customized=True)
        if not reply.ok:
            raise RequestFailed(f"describe {model}: HTTP {reply.status}: {reply.body}")
        return manifest_of(reply)

    # -- management: changing ---------------------------------------------------------------
    def register(self, url: str, *, model_name: str | None = None, initial_workers: int | None = None,
                 batch_size: int | None = None, max_batch_delay: int | None = None, synchronous: bool = True) -> Reply:
        """``POST /models?url=...`` (a file name in the model store, or an allowed URL); refused (405)
        while the config keeps the model API off. An archive's own ``minWorkers`` wins over ``initial_workers``."""
        params = _params(url=url, model_name=model_name, initial_workers=initial_workers, batch_size=batch_size,
                         max_batch_delay=max_batch_delay, synchronous=synchronous)
        return self._call("management", "POST", "/models", params=params)

    def unregister(self, model: str, version: str | None = None) -> Reply:
        """``DELETE /models/NAME[/VERSION]``; without a version TorchServe removes the default version, and it
        refuses (403) to remove the default one while other versions are registered."""
        return self._call("management", "DELETE", _path("models", model, version))

    def scale(self, model: str, min_workers: int, max_workers: int | None = None, version: str | None = None,
              synchronous: bool = True) -> Reply:
        """``PUT /models/NAME[/VERSION]?min_worker=N``: without a version, the default version is scaled."""
        params = _params(min_worker=min_workers, max_worker=max_workers, synchronous=synchronous)
        return self._call("management", "PUT", _path("models", model, version), params=params)

    def set_default(self, model: str, version: str) -> Reply:
        """``PUT /models/NAME/VERSION/set-default``: ``/predictions/NAME`` answers from that version from now on."""
        return self._call("management", "PUT", _path("models", model, version, "set-default"))

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, api: str, method: str, path: str, **kwargs: Any) -> Reply:
        base = self.inference_url if api == "inference" else self.management_url
        extra = kwargs.pop("headers", {})
        for attempt in (1, 2):
            headers = {**extra, **self._authorization(api, reload=attempt == 2)}
            response = requests.request(method, base + path, headers=headers, timeout=self.timeout, **kwargs)
            if not _token_refused(response) or self.key_file is None:
                break
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return Reply(response.status_code, body, dict(response.headers))

    def _authorization(self, api: str, reload: bool) -> dict[str, str]:
        return {} if self.key_file is None else {"Authorization": f"Bearer {self._key(api, reload)}"}

    def token(self, api: str) -> str:
        """The current ``inference`` or ``management`` token from the key file."""
        return self._key(api)

    def _key(self, api: str, reload: bool = False) -> str:
        """The cached token; after a refusal, the file's current one, renewed first if the file says it expired."""
        if self._keys is None or reload:
            self._keys = {}
        if api not in self._keys:  # each API's key read when first needed: the KServe runtime's file has no management key
            keys = KeyFile(Path(self.key_file))
            if reload and keys.expired(api):
                keys.renew(api, self.management_url, self.timeout)
            self._keys[api] = keys.token(api)
        return self._keys[api]


def _token_refused(response: requests.Response) -> bool:
    """TorchServe 0.12 refuses a wrong or expired token with 400 ``InvalidKeyException``, not 401."""
    if response.status_code == 401:
        return True
    if response.status_code != 400 or "json" not in response.headers.get("Content-Type", ""):
        return False
    try:
        return response.json().get("type") == "InvalidKeyException"
    except (ValueError, AttributeError):
        return False


def manifest_of(reply: Reply) -> dict[str, Any]:
    """The archive manifest in a ``status(..., customized=True)`` reply (TorchServe sends it as an object or a string)."""
    custom = reply.body[0].get("customizedMetadata") if isinstance(reply.body, list) and reply.body else None
    if custom is None:
        raise NoManifest("TorchServe's answer has no customizedMetadata (an archive not built by this project, or version 'all')")
    return json.loads(custom) if isinstance(custom, str) else custom


def has_ready_worker(reply: Reply) -> bool:
    """Whether a ``status(model)`` reply shows a READY worker in any of the versions it lists."""
    return reply.status == 200 and isinstance(reply.body, list) and any(
        worker.get("status") == "READY" for version in reply.body for worker in version.get("workers", []))


def connection_problem(err: requests.RequestException) -> str:
    """What to tell a user whose call got no answer: the URL asked and where the addresses come from."""
    if not isinstance(err, (requests.ConnectionError, requests.Timeout)):
        return f"{type(err).__name__}: {err}"
    url = (getattr(err.request, "url", None) or "TorchServe").split("?")[0]
    return (f"no answer from {url} ({type(err).__name__}): is TorchServe running there? "
            "(addresses from --config, or --inference/--management)")
