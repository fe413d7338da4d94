"""`aiedge agent`: run a site's agent (pull desired state from the hub, serve it, report)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from aiedge.agent.loop import run_agent
from aiedge.agent.prune import parse_size
from aiedge.agent.settings import AgentSettings
from aiedge.errors import AiedgeError
from aiedge.oci.bandwidth import parse_rate


def agent_command(
    ctx: typer.Context,
    hub: str | None = typer.Option(
        None,
        "--hub",
        help="Hub base URL (required; or AIEDGE_AGENT_HUB): https://core:8443, or http:// on loopback.",
    ),
    insecure: bool = typer.Option(
        False,
        "--insecure",
        help="Allow plain http:// to a hub beyond loopback (its credential and digests travel in clear).",
    ),
    ca: Path | None = typer.Option(
        None, "--ca", help="PEM CA bundle to check the hub's HTTPS certificate with (default: system CAs)."
    ),
    site: str | None = typer.Option(
        None, "--site", help="This site's name at the hub (default: the hostname)."
    ),
    data: Path | None = typer.Option(None, "--data", help="Folder of the cache, state and logs."),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        metavar="FILE",
        help="File holding the join token from `aiedge hub token create` (or AIEDGE_AGENT_TOKEN); "
        "used once, the site credential is then kept in DATA.",
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        help="The join token on the command line: visible to every user in ps; prefer --token-file.",
    ),
    port_offset: int | None = typer.Option(
        None, "--port-offset", help="Added to every app port (several sites on one host)."
    ),
    poll_interval: float | None = typer.Option(
        None, "--poll-interval", help="Seconds between heartbeats and resyncs (default: 5)."
    ),
    insecure_registry: bool = typer.Option(
        False, "--insecure-registry", help="Plain HTTP to every registry (default: only to loopback ones)."
    ),
    host: str | None = typer.Option(
        None, "--host", help="Address the site ports listen on (default: 127.0.0.1)."
    ),
    scrape_interval: float | None = typer.Option(
        None, "--scrape-interval", help="Seconds between scrapes of each app's metrics (default: 15)."
    ),
    runtime: str | None = typer.Option(
        None, "--runtime", help="How apps run: process (default) or podman (runnable images only)."
    ),
    remote_write: list[str] | None = typer.Option(
        None,
        "--remote-write",
        help="Also ship the site's metrics to this Prometheus remote-write URL (repeatable).",
    ),
    otlp: list[str] | None = typer.Option(
        None,
        "--otlp",
        metavar="URL",
        help="Also ship the site's metrics as OTLP/HTTP protobuf to this OpenTelemetry collector "
        "URL, e.g. http://127.0.0.1:4318/v1/metrics (repeatable).",
    ),
    max_bandwidth: str | None = typer.Option(
        None,
        "--max-bandwidth",
        metavar="RATE",
        help="Limit all blob downloads together to this rate, e.g. 2MiB/s, 500KB/s, 10Mbit/s "
        "(KB/MB = 1000, KiB/MiB = 1024; bits as kbit/Mbit). Default: no limit.",
    ),
    cache_max: str | None = typer.Option(
        None,
        "--cache-max",
        metavar="SIZE",
        help="Prune versions neither serving nor kept for rollback, oldest first, once the image "
        "cache passes this size, e.g. 20GiB (KB/MB = 1000, KiB/MiB = 1024). Default: no limit.",
    ),
    min_free: str | None = typer.Option(
        None,
        "--min-free",
        metavar="SIZE",
        help="Prune the same way while the data disk has less than this free, e.g. 2GiB. "
        "Default: no floor (downloads still never use the last 256 MiB).",
    ),
    capture_to: str | None = typer.Option(
        None,
        "--capture-to",
        metavar="s3://BUCKET/PREFIX",
        help="Upload the requests apps capture (App spec.capture) to this S3-compatible bucket, "
        "when the link allows (credentials: the usual AWS variables or profile).",
    ),
    capture_endpoint: str | None = typer.Option(
        None, "--capture-endpoint", metavar="URL", help="S3 endpoint of --capture-to (MinIO, Ceph...)."
    ),
    verify_key: list[Path] | None = typer.Option(
        None,
        "--verify-key",
        metavar="PUBKEY.pem",
        help="Only fetch images with a cosign signature that verifies with this public key "
        "(cosign.pub from `aiedge keygen`; repeatable: any one of the keys will do).",
    ),
) -> None:
    """Run a site's agent: pull the desired state, fetch and smoke-test models, serve them, report.

    `aiedge agent install --quadlet DIR` writes systemd units that run it under podman instead."""
    if ctx.invoked_subcommand is not None:
        return  # `aiedge agent install ...`: the subcommand runs, not the agent
    overrides: dict[str, Any] = {
        "hub": hub,
        "insecure": insecure or None,
        "ca": ca,
        "site": site,
        "data": data,
        "token": token,
        "token_file": token_file,
        "port_offset": port_offset,
        "poll_interval": poll_interval,
        "insecure_registry": insecure_registry or None,
        "host": host,
        "scrape_interval": scrape_interval,
        "remote_write": remote_write or None,
        "otlp": otlp or None,
        "runtime": runtime,
        "max_bandwidth": _rate_option(max_bandwidth),
        "verify_keys": verify_key or None,
        "capture_to": capture_to,
        "capture_endpoint": capture_endpoint,
        "cache_max": _size_option("--cache-max", cache_max),
        "min_free": _size_option("--min-free", min_free),
    }
    try:
        settings = AgentSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        raise AiedgeError(_setting_error(e)) from None
    if not settings.hub:
        raise AiedgeError(
            "--hub is required: the hub's URL, e.g. https://core:8443 (or set AIEDGE_AGENT_HUB)"
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if token is not None:
        logging.getLogger("aiedge.agent").warning(
            "--token puts the token in every user's ps; use --token-file FILE or AIEDGE_AGENT_TOKEN"
        )
    asyncio.run(_main(settings))


def _setting_error(e: ValidationError) -> str:
    """One line naming the flag (``--hub``, ``--data``...) and what is wrong with it."""
    err = e.errors()[0]
    msg = str(err["msg"]).removeprefix("Value error, ")
    loc = ".".join(map(str, err["loc"]))
    return f"--{loc.replace('_', '-')}: {msg}" if loc else msg


def _rate_option(text: str | None) -> float | None:
    """``--max-bandwidth`` in bytes per second; a bad value is one line naming the option."""
    if text is None:
        return None
    try:
        return parse_rate(text)
    except ValueError as e:
        raise AiedgeError(f"--max-bandwidth: {e}") from None


def _size_option(flag: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_size(text)
    except ValueError as e:
        raise AiedgeError(f"{flag}: {e}") from None


async def _main(settings: AgentSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_agent(settings, stop)
