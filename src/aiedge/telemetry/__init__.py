"""Telemetry: the metrics path from a site's inference servers to the core.

``scrape`` (exposition text -> labelled samples) -> ``wal`` (on-disk buffer, one cursor per
destination; record format in ``wal_records``) -> ``shipper`` (remote-write loop per destination,
body from ``remote_write``) -> ``receiver`` (decode, starlette endpoint the hub mounts).
``samples`` holds the shared in-memory types, ``errors`` the exceptions, ``proto`` the generated
remote-write 1.0 wire types. The agent and the hub call into this package; it imports neither.
"""
