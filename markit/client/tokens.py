"""TorchServe's token file (``key_file.json`` in the server's working directory).

TorchServe writes three keys there: ``inference`` and ``management`` tokens, which expire after
``token_expiration_min`` minutes (60 by default), and an ``API`` key that never expires and can
only renew the other two (``POST /token?type=inference`` on the management API). A renewed token
is written back to the same file, so every reader of the file sees it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from ..errors import UsageError

__all__ = ["APIS", "KeyFile", "TokenError"]

APIS = ("inference", "management")
# renew a little before the server would refuse the token
EXPIRY_MARGIN = timedelta(seconds=30)


class TokenError(UsageError):
    """The key file is missing or unreadable, or a token could not be renewed: exit 2."""


@dataclass(frozen=True)
class KeyFile:
    path: Path

    def read(self) -> dict:
        try:
            return json.loads(Path(self.path).read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise TokenError(f"{self.path}: no key file; TorchServe writes key_file.json into its working directory "
                             "at start (pass --key-file, or disable_token_authorization=true if auth is off)") from err
        except (OSError, ValueError) as err:
            raise TokenError(f"{self.path}: unreadable key file: {err}") from err

    def token(self, api: str) -> str:
        return self._entry(api)["key"]

    def expires(self, api: str) -> datetime | None:
        stamp = self._entry(api).get("expiration time")
        return _parse_time(stamp) if stamp else None

    def expired(self, api: str, now: datetime | None = None) -> bool:
        expires = self.expires(api)
        return expires is not None and (now or datetime.now(timezone.utc)) + EXPIRY_MARGIN >= expires

    def renew(self, api: str, management_url: str, timeout: float = 10.0) -> str:
        """Ask the server for a new ``api`` token with the API key; the server rewrites the file."""
        api_key = self.read().get("API", {}).get("key")
        if not api_key:
            raise TokenError(f"{self.path}: no 'API' key to renew the {api} token with")
        response = requests.post(f"{management_url.rstrip('/')}/token", params={"type": api},
                                 headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout)
        if response.status_code != 200:
            raise TokenError(f"renewing the {api} token: HTTP {response.status_code}: {response.text.strip()}")
        return self.token(api)

    def _entry(self, api: str) -> dict:
        if api not in APIS:
            raise ValueError(f"api must be one of {APIS}, not {api!r}")
        data = self.read()
        if api not in data or "key" not in data[api]:
            raise TokenError(f"{self.path}: no {api!r} key in the key file")
        return data[api]


def _parse_time(stamp: str) -> datetime:
    """TorchServe writes ISO instants with nanoseconds (``2026-11-22T06:06:43.801475326Z``)."""
    head, _, fraction = stamp.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(head).replace(tzinfo=timezone.utc)
    return moment + timedelta(microseconds=int((fraction + "000000")[:6])) if fraction else moment
