"""URL checks for settings: a bad URL is refused when it is set, never found out in `run`.

Only the schemes the code can use pass: http(s) for REST and webhooks, http(s) for Binance
proxies too (httpx speaks SOCKS only with `socksio`, which LightSpeed does not install), so
`file://`, `gopher://` or a bare word never reach a client.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

HTTP = ("http", "https")


def check_url(value: str, schemes: tuple[str, ...] = HTTP, *, example: str = "https://host") -> str:
    """The URL stripped, or ValueError saying what is allowed (scheme, host, port in range)."""
    text = value.strip()
    allowed = " or ".join(f"{s}://" for s in schemes)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError on a port out of range or not a number)
    except ValueError:
        raise ValueError(f"must be an {allowed} URL with a host, like {example}") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ValueError(f"must be an {allowed} URL with a host, like {example}")
    if not _valid_host(parts.hostname):
        raise ValueError(f"must have a valid host: {parts.hostname} is no IP address or name")
    if any(c.isspace() for c in text):
        raise ValueError(f"must be an {allowed} URL without spaces, like {example}")
    return text


def _valid_host(host: str) -> bool:
    """An all-digit dotted host must be a real IPv4 address (256.256.256.256 is none)."""
    labels = host.split(".")
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
    return True


def check_http_url(value: str) -> str:
    """An http(s) URL with a host: `notaurl` or `ftp://x` would only fail later, off-line."""
    return check_url(value, example="https://host:8765")


def check_optional_http_url(value: str) -> str:
    """ "" (the built-in default) or an http(s) URL."""
    return check_url(value) if value.strip() else ""


def check_proxy_url(value: str) -> str:
    """A Binance proxy: http://[user:pass@]host:port (or https://)."""
    return check_url(value, example="http://user:pass@10.0.0.1:3128")
