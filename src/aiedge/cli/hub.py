"""`aiedge hub`: run the hub (the group's callback, when no subcommand is given), and manage
enrolment against the same database while it runs: ``aiedge hub token create --site NAME``,
``aiedge hub site revoke NAME``; operators' tokens are ``aiedge hub operator ...`` (cli/operators.py)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from aiedge.cli import operators
from aiedge.cli.settings_options import Opt, setting_error, settings_options
from aiedge.errors import AiedgeError
from aiedge.gitops import GitopsRepo, load_repo, read_source
from aiedge.hub.clock import system_clock
from aiedge.hub.enrolment import check_defined, create_join_token
from aiedge.hub.revision import published_repo
from aiedge.hub.settings import HubSettings
from aiedge.hub.store import Store, check_url, open_engine

app = typer.Typer(help="Run the hub (the core) and manage site enrolment.", invoke_without_command=True)
token_app = typer.Typer(help="One-time join tokens for enrolling sites.", no_args_is_help=True)
site_app = typer.Typer(help="Enrolled sites.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(site_app, name="site")


_OPTIONS = (
    Opt("gitops", short="-g", metavar="DIR"),
    Opt("data", short="-d", metavar="DIR"),
    Opt("port", short="-p"),
    Opt("host"),
    Opt("poll_interval", metavar="SECONDS"),
    Opt("stale_after", metavar="SECONDS"),
    Opt("insecure_no_auth"),
    Opt(
        "forward_remote_write",
        metavar="URL",
        help="Forward the metrics sites send to this Prometheus remote-write URL (repeatable).",
    ),
    Opt(
        "alert_webhook",
        metavar="URL",
        help="POST alerts (firing and resolved) here, as Alertmanager's webhook.",
    ),
    Opt(
        "database_url",
        flag="--db",
        metavar="URL",
        help="Database URL: postgresql://USER@HOST:PORT/DB (several hubs may share it) or sqlite:///FILE "
        "(default: sqlite:///DATA/hub.db).",
    ),
    Opt("tls_cert", metavar="FILE", help="Serve HTTPS with this PEM certificate (chain)."),
    Opt("tls_key", metavar="FILE", help="PEM private key of --tls-cert."),
    Opt(
        "webhook_secret_file",
        metavar="FILE",
        help="Take Git webhook calls signed with the secret in this file (GitHub, Gitea, GitLab).",
    ),
)


def _settings(**given: Any) -> HubSettings:
    """Settings from the environment (AIEDGE_HUB_*) overridden by the flags given; a bad value is
    one line naming the flag or variable."""
    try:
        return HubSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        raise AiedgeError(setting_error(e, _OPTIONS, given, "AIEDGE_HUB_")) from None


@app.callback()
@settings_options(HubSettings, *_OPTIONS)
def hub_command(ctx: typer.Context, given: dict[str, Any]) -> None:
    """Run the hub: serve each site its desired state from the GitOps repo, take status reports.

    Every option is also an AIEDGE_HUB_* variable (flags win); limits and alert thresholds are
    settings too (see the README)."""
    ctx.obj = {"data": given.get("data"), "db": given.get("database_url")}
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(**given)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from aiedge.hub.server import run

    run(settings)


def _store(ctx: typer.Context, data: Path | None) -> Store:
    given = ctx.obj if isinstance(ctx.obj, dict) else {}
    settings = _settings(data=data or given.get("data"), database_url=given.get("db"))
    check_url(settings.db_url())
    settings.data.mkdir(parents=True, exist_ok=True)
    return Store(open_engine(settings.db_url()))


app.add_typer(operators.make_app(_store), name="operator")


def _repo(store: Store, gitops: Path | None) -> GitopsRepo | None:
    """The revision the hub serves; the repo itself when given and the hub published none yet."""
    repo = published_repo(store)
    if repo is None and gitops is not None:
        repo = load_repo(read_source(gitops))
    return repo


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    site: str = typer.Option(..., "--site", "-s", help="The site the token enrols."),
    data: Path | None = typer.Option(
        None, "--data", "-d", help="The hub's data folder (same as the hub's --data)."
    ),
    ttl: float = typer.Option(86400.0, "--ttl", help="Seconds the token stays valid."),
    gitops: Path | None = typer.Option(
        None,
        "--gitops",
        "-g",
        help="The GitOps repo, to check SITE before the hub has published a revision.",
    ),
) -> None:
    """Print a one-time join token for SITE (kept hashed; give it to the site's agent). SITE must
    be defined in the GitOps repo the hub serves."""
    store = _store(ctx, data)
    try:
        check_defined(_repo(store, gitops), site)
        typer.echo(create_join_token(store, site, system_clock(), ttl))
    finally:
        store.close()


@site_app.command("revoke")
def site_revoke(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="The site whose credentials are revoked."),
    data: Path | None = typer.Option(
        None, "--data", "-d", help="The hub's data folder (same as the hub's --data)."
    ),
) -> None:
    """Revoke SITE's credentials and unused join tokens; it must enrol again with a new token."""
    store = _store(ctx, data)
    try:
        repo = published_repo(store)
        if (repo is None or site not in repo.sites) and not store.enrolled(site):
            raise AiedgeError(
                f"site {site!r} is unknown here: not in the GitOps repo the hub serves, never enrolled"
            )
        n = store.revoke_site(site, system_clock())
    finally:
        store.close()
    typer.echo(f"revoked {n} credential{'' if n == 1 else 's'} of site {site}")


@app.command("alert-rules")
def alert_rules() -> None:
    """Print Prometheus alerting rules equivalent to the hub's alerts (thresholds from AIEDGE_HUB_*)."""
    from aiedge.hub.alerts import prometheus_rules, thresholds

    s = _settings()
    typer.echo(
        prometheus_rules(thresholds(s)),
        nl=False,
    )
