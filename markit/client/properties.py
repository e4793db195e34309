"""Reading a TorchServe ``config.properties``: the addresses a local client or probe must call.

Java properties, the subset TorchServe configs use: ``key=value`` lines, ``#``/``!`` comments and
backslash escapes (``allowed_urls`` regexes are written with doubled backslashes).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_ADDRESSES", "local_url", "read_properties", "server_urls"]

DEFAULT_ADDRESSES = {
    "inference": "http://127.0.0.1:8080",
    "management": "http://127.0.0.1:8081",
    "metrics": "http://127.0.0.1:8082",
}
WILDCARD_HOSTS = ("0.0.0.0", "[::]", "::")


def read_properties(path: Path) -> dict[str, str]:
    """The ``key=value`` pairs of a TorchServe config file; later keys win, as in Java."""
    values: dict[str, str] = {}
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = _unescape(value.strip())
    return values


def _unescape(value: str) -> str:
    out, chars = [], iter(value)
    for char in chars:
        out.append(next(chars, "\\") if char == "\\" else char)
    return "".join(out)


def local_url(address: str) -> str:
    """A URL a process on the same host can call: a wildcard bind address becomes loopback."""
    scheme, _, rest = address.rstrip("/").partition("://")
    host, sep, port = rest.rpartition(":") if rest.count(":") == 1 or rest.startswith("[") else (rest, "", "")
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    return f"{scheme}://{host}{sep}{port}"


def server_urls(config: Path) -> dict[str, str]:
    """``inference``/``management``/``metrics`` URLs of the server a config file describes."""
    values = read_properties(config)
    return {api: local_url(values.get(f"{api}_address", default)) for api, default in DEFAULT_ADDRESSES.items()}
