"""`aiedge hub` (placeholder: the owner of this command replaces it).

``aiedge hub --gitops DIR --data DIR`` runs the hub; subcommands (``token create``...) come later,
so ``hub`` is a typer group whose callback runs the server when no subcommand is given.
"""

import typer

from aiedge.errors import AiedgeError

app = typer.Typer(help="Run the hub (the core).", invoke_without_command=True)


@app.callback()
def hub_command() -> None:
    """Not built yet."""
    raise AiedgeError("hub is not built yet")
