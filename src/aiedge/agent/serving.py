"""What a model server says it serves on: the device, and why not the one the App asked for."""

from __future__ import annotations

import httpx

MAX_TEXT = 1000


async def served_device(http: httpx.AsyncClient, base_url: str, model: str) -> tuple[str | None, str | None]:
    """(device, fallback) from the model's V2 metadata; (None, None) when the server does not say
    (an image's own server, an older aiedge)."""
    try:
        r = await http.get(f"{base_url.rstrip('/')}/v2/models/{model}", timeout=10.0)
        meta = r.json() if r.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return None, None
    if not isinstance(meta, dict):
        return None, None

    def text(key: str) -> str | None:
        value = meta.get(key)
        return value[:MAX_TEXT] if isinstance(value, str) and value else None

    return text("device"), text("device_fallback")
