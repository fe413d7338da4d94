"""`aiedge agent`: run a site's agent (pull desired state from the hub, serve it, report)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

import typer
from pydantic import ValidationError

from aiedge.agent.settings import AgentSettings
from aiedge.cli.lazy import Lazy, lazy_group
from aiedge.cli.settings_options import Opt, setting_error, settings_options
from aiedge.errors import AiedgeError

ENV_PREFIX = "AIEDGE_AGENT_"


_OPTIONS = (
    Opt(
        "hub",
        metavar="URL",
        help="The hub's URL (required): https://core:8443, or http:// on loopback.",
    ),
    Opt("site", short="-s", default_text="the hostname"),
    Opt("data", short="-d", metavar="DIR"),
    Opt(
        "token_file",
        metavar="FILE",
        help="File holding the join token from `aiedge hub token create` (or AIEDGE_AGENT_TOKEN); "
        "used once, the site credential is then kept in DATA.",
    ),
    Opt(
        "ca",
        metavar="FILE",
        help="PEM CA bundle to check the hub's HTTPS certificate with (default: system CAs).",
    ),
    Opt("insecure"),
    Opt("insecure_registry", help="Plain HTTP to every registry (loopback registries: always)."),
    Opt("host"),
    Opt("port_offset"),
    Opt("poll_interval", metavar="SECONDS"),
    Opt("scrape_interval", metavar="SECONDS"),
    Opt("runtime"),
    Opt(
        "remote_write",
        metavar="URL",
        help="Also ship the site's metrics to this Prometheus remote-write URL (repeatable).",
    ),
    Opt(
        "otlp",
        metavar="URL",
        help="Also ship the site's metrics as OTLP/HTTP protobuf to this OpenTelemetry collector "
        "URL, e.g. http://127.0.0.1:4318/v1/metrics (repeatable).",
    ),
    Opt(
        "max_bandwidth",
        metavar="RATE",
        type=str,
        help="Limit all blob downloads together to this rate, e.g. 2MiB/s, 500KB/s, 10Mbit/s "
        "(KB/MB = 1000, KiB/MiB = 1024; bits as kbit/Mbit). Default: no limit.",
    ),
    Opt(
        "link_budget",
        metavar="BUDGET",
        type=str,
        help="Bytes a day the site's link may carry, both ways, e.g. 20MB/day: control, status and "
        "summaries always go, raw metrics stop when it is spent, model downloads wait until they fit "
        "(or are urgent). The smaller of this and the Site's spec.link is kept. Default: none.",
    ),
    Opt(
        "cache_max",
        metavar="SIZE",
        type=str,
        help="Prune versions neither serving nor kept for rollback, oldest first, once the image "
        "cache passes this size, e.g. 20GiB (KB/MB = 1000, KiB/MiB = 1024). Default: no limit.",
    ),
    Opt(
        "min_free",
        metavar="SIZE",
        type=str,
        help="Prune the same way while the data disk has less than this free, e.g. 2GiB. "
        "Default: no floor (downloads still never use the last 256 MiB).",
    ),
    Opt(
        "capture_to",
        metavar="s3://BUCKET/PREFIX",
        help="Upload the requests apps capture (App spec.capture) to this S3-compatible bucket, "
        "when the link allows (credentials: the usual AWS variables or profile).",
    ),
    Opt("capture_endpoint", metavar="URL", help="S3 endpoint of --capture-to (MinIO, Ceph...)."),
    Opt(
        "registry_mirror",
        metavar="SRC=DST",
        help="Pull the images of registry SRC (as Apps name it) from registry DST, e.g. a site-local "
        "mirror: --registry-mirror quay.io=127.0.0.1:5000 (repeatable).",
    ),
    Opt(
        "hub_key",
        metavar="FILE",
        help="The hub's bundle-signing public key (its DATA/hub-signing.pub) to check imported bundles "
        "with (default: the one the hub sent at enrolment).",
    ),
    Opt(
        "verify_keys",
        flag="--verify-key",
        metavar="PUBKEY.pem",
        help="Only fetch images with a cosign signature that verifies with this public key "
        "(cosign.pub from `aiedge keygen`; repeatable: any one of the keys will do).",
    ),
    Opt(
        "platform",
        metavar="OS/ARCH",
        help="Run this platform's image of multi-platform images, e.g. linux/arm64 (default: this "
        "machine's; another one runs under qemu-user with --runtime podman).",
    ),
    Opt("token", hidden=True),
)


@settings_options(AgentSettings, *_OPTIONS)
def agent_command(ctx: typer.Context, given: dict[str, Any]) -> None:
    """Run a site's agent: pull the desired state, fetch and smoke-test models, serve them, report.

    Every option is also an AIEDGE_AGENT_* variable (flags win); more settings are listed in the
    README. `aiedge agent install --quadlet DIR` writes systemd units that run it under podman."""
    if ctx.invoked_subcommand is not None:
        return  # `aiedge agent install ...`: the subcommand runs, not the agent
    try:
        settings = AgentSettings(**given)
    except ValidationError as e:
        raise AiedgeError(setting_error(e, _OPTIONS, given, ENV_PREFIX)) from None
    if not settings.hub:
        raise AiedgeError(
            "--hub is required: the hub's URL, e.g. https://core:8443 (or set AIEDGE_AGENT_HUB)"
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if "token" in given:
        logging.getLogger("aiedge.agent").warning(
            "--token puts the token in every user's ps; use --token-file FILE or AIEDGE_AGENT_TOKEN"
        )
    asyncio.run(_main(settings))


async def _main(settings: AgentSettings) -> None:
    from aiedge.agent.loop import run_agent  # the loop's imports only when the agent runs

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_agent(settings, stop)


# `aiedge agent [OPTIONS]` runs the agent; `aiedge agent install --quadlet DIR` writes its units
app = typer.Typer(
    cls=lazy_group(
        {
            "install": Lazy(
                "aiedge.cli.containers:install_quadlet_command",
                "Write systemd quadlet units (.container, .volume) for the agent and, optionally, its apps.",
            ),
            "recipient": Lazy(
                "aiedge.cli.secret:recipient_command",
                "Print this site's age recipient (age1...), making its identity in DATA on first use.",
            ),
            "hold": Lazy(
                "aiedge.cli.agent_ops:hold_command",
                "Defer every switch to a new version at this site until `aiedge agent release`.",
            ),
            "import": Lazy(
                "aiedge.cli.agent_ops:import_command",
                "Verify an offline bundle (aiedge bundle export) and apply it, with no hub or registry.",
            ),
            "release": Lazy(
                "aiedge.cli.agent_ops:release_command",
                "End the site-local hold: deferred versions switch on the agent's next pass.",
            ),
        }
    ),
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.callback(invoke_without_command=True)(agent_command)
