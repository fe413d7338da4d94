"""`aiedge secret encrypt`: encrypt app secrets to one site's age recipient into the GitOps repo;
`aiedge agent recipient`: print (making it on first use) a site's age recipient.

Values come from the command line (``KEY=VALUE``), from the caller's environment (``KEY`` alone,
like ``docker run -e KEY``) or from files (``--from-file KEY=PATH``); they are never printed and
never written anywhere but encrypted.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from aiedge.agent.secrets import load_identity
from aiedge.agent.settings import AgentSettings
from aiedge.cli.spelling import GITOPS, renamed
from aiedge.errors import AiedgeError
from aiedge.gitops.secrets import encrypt_site_secret

app = typer.Typer(
    help="App secrets, encrypted in Git to each site's age key (decrypted only at the site).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _values(pairs: list[str], files: list[str]) -> dict[str, bytes]:
    values: dict[str, bytes] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq:
            env = os.environ.get(name)
            if env is None:
                raise AiedgeError(f"{name}: give KEY=VALUE, or set {name} in the environment")
            value = env
        values[name] = value.encode()
    for pair in files:
        name, eq, path = pair.partition("=")
        if not eq or not path:
            raise AiedgeError(f"--from-file {pair!r}: expected KEY=PATH")
        try:
            values[name] = Path(path).read_bytes()
        except OSError as e:
            raise AiedgeError(f"--from-file {name}: cannot read {path}: {e.strerror or e}") from None
    return values


@app.command("encrypt")
def encrypt_command(
    pairs: list[str] = typer.Argument(
        None, metavar="KEY=VALUE...", help="Env names and values; KEY alone takes $KEY from the environment."
    ),
    site: str = typer.Option(..., "--site", "-s", help="The site whose agent will decrypt the values."),
    app_name: str = typer.Option(..., "--app", "-a", help="The app whose serving process gets them as env."),
    repo: Path = GITOPS,
    old_repo: Path | None = typer.Option(None, "--repo", hidden=True),
    from_file: list[str] = typer.Option(
        None, "--from-file", metavar="KEY=PATH", help="Take KEY's value from the file PATH (repeatable)."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Drop the names the SiteSecret holds that are not given here."
    ),
) -> None:
    """Encrypt values to SITE's ageRecipient into the SiteSecret of SITE and APP (written, not committed)."""
    repo = renamed(old_repo, "--repo", "--gitops") or repo
    values = _values(pairs or [], from_file or [])
    done = encrypt_site_secret(repo, site, app_name, values, replace=replace)
    typer.echo(
        f"wrote {done.path}: {', '.join(done.encrypted)} encrypted to {done.recipient} "
        f"(holds {', '.join(done.names)}); review and commit it"
    )


def recipient_command(
    data: Path | None = typer.Option(
        None, "--data", "-d", help="The agent's data folder (as given to the agent)."
    ),
) -> None:
    """Print this site's age recipient (age1...), making its identity in DATA on first use; put it
    in the Site's spec.ageRecipient so secrets can be encrypted to it."""
    settings = AgentSettings(data=data) if data is not None else AgentSettings()
    typer.echo(load_identity(settings.age_identity_file).recipient)
