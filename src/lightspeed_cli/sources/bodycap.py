"""Read an HTTP body within a size cap, on the wire and inflated (issue 22, item 5).

httpx inflates each wire chunk whole: one 64 KiB chunk of a gzip bomb becomes 64 MiB before
anyone can count it. So the body is read raw and inflated here, never more than the cap plus
one byte at a time. An answer over its cap is a malformed answer (never a book, never "flat").
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import httpx

from lightspeed_cli.sources.errors import MalformedAnswer

MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class BodyCap:
    """The most an endpoint's answer may weigh: `wire` bytes received, `inflated` decoded."""

    wire: int = 1 * MiB
    inflated: int = 4 * MiB


def _inflater(encoding: str) -> zlib._Decompress | None:
    match encoding.strip().lower():
        case "" | "identity":
            return None
        case "gzip" | "x-gzip":
            return zlib.decompressobj(zlib.MAX_WBITS | 16)
        case "deflate":
            return zlib.decompressobj()
        case other:
            raise MalformedAnswer(f"content encoding {other[:20]!r} we did not ask for")


async def read_capped(response: httpx.Response, cap: BodyCap) -> bytes:
    """The decoded body, or MalformedAnswer as soon as it passes `cap` (nothing more is read)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap.wire:
        raise MalformedAnswer(f"an answer of {int(declared):,} bytes, over the {cap.wire:,} cap")
    inflater = _inflater(response.headers.get("Content-Encoding", ""))
    body, wire = bytearray(), 0
    async for chunk in response.aiter_raw():
        wire += len(chunk)
        if wire > cap.wire:
            raise MalformedAnswer(f"an answer over the {cap.wire:,} byte cap on the wire")
        if inflater is None:
            body += chunk
        else:
            _inflate(inflater, chunk, body, cap)
        if len(body) > cap.inflated:
            raise MalformedAnswer(f"an answer over the {cap.inflated:,} byte cap inflated")
    if inflater is not None:
        body += inflater.flush()
        if len(body) > cap.inflated:
            raise MalformedAnswer(f"an answer over the {cap.inflated:,} byte cap inflated")
    return bytes(body)


def _inflate(inflater: zlib._Decompress, chunk: bytes, body: bytearray, cap: BodyCap) -> None:
    """Inflate `chunk` into `body`, at most up to one byte past the cap."""
    data = chunk
    try:
        while data:
            room = cap.inflated - len(body) + 1
            body += inflater.decompress(data, room)
            if len(body) > cap.inflated:
                return  # the caller refuses it
            data = inflater.unconsumed_tail
    except zlib.error as exc:
        raise MalformedAnswer(f"a body that does not inflate ({exc})") from None
