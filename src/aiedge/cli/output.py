"""``-o json|yaml|wide`` (and ``--json``) for every command that prints data, kubectl-style:
text by default, ``wide`` for more columns, ``json``/``yaml`` for scripts (one document on
stdout, nothing else there)."""

from __future__ import annotations

import io
import sys
from typing import Any, Literal

import orjson
import typer

Format = Literal["json", "yaml", "wide"]

#: for a command's signature: ``output: Format | None = OUTPUT``
OUTPUT: Any = typer.Option(None, "--output", "-o", help="json or yaml for scripts; wide: more columns.")
#: ``--json``, kept as the short way to say ``-o json``
JSON: Any = typer.Option(False, "--json", help="Same as -o json.")


def choose(output: Format | None, as_json: bool = False) -> Format | None:
    """The format asked for (None: text); ``--json`` is ``-o json``."""
    if as_json and output not in (None, "json"):
        raise typer.BadParameter(f"--json and -o {output} disagree", param_hint="-o/--output")
    return "json" if as_json else output


def emit(data: Any, output: str | None) -> None:
    """``data`` as one JSON line or one YAML document on stdout."""
    if output == "yaml":
        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        buf = io.StringIO()
        yaml.dump(orjson.loads(orjson.dumps(data)), buf)  # JSON types only, in YAML's form
        sys.stdout.write(buf.getvalue())
    else:
        sys.stdout.write(orjson.dumps(data).decode() + "\n")
    sys.stdout.flush()
