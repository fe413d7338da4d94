"""Compressed request bodies, decoded within a bound: agents send their reports and summaries with
``Content-Encoding: gzip``. The body limits (:mod:`aiedge.hub.api.limits`) bound what arrives; this
bounds what it expands to, so a small bomb (1 MiB of gzip can be 1 GiB of zeros) is refused after
decoding at most ``limit + 1`` bytes, never held whole."""

from __future__ import annotations

import zlib

from aiedge.hub.errors import HubError

GZIP = "gzip"


class BadEncoding(HubError):
    """A body in an encoding the hub does not take, or one that does not decode (400)."""


class DecodedTooLarge(HubError):
    """A body that decodes to more than its route takes (413)."""


def decode(data: bytes, encoding: str | None, limit: int, setting: str) -> bytes:
    """``data`` as sent with ``Content-Encoding: encoding`` (none, ``identity`` or ``gzip``),
    decoded to at most ``limit`` bytes; ``setting`` names the limit in the refusal."""
    name = (encoding or "identity").strip().lower()
    if name == "identity":
        return data
    if name != GZIP:
        raise BadEncoding(f"Content-Encoding: {name[:40]!r} is not taken here; send gzip or no encoding")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as e:
        raise BadEncoding(f"body: not valid gzip: {e}") from None
    if len(out) > limit:
        raise DecodedTooLarge(
            f"body: decodes to more than this route takes ({limit} bytes after gzip, {setting})"
        )
    if not inflater.eof:
        raise BadEncoding("body: the gzip stream is cut short")
    return out
