"""The ``aiedge`` command line: the only place that wires the parts together.

Each command lives in its own module (``cli/serve.py``, ``cli/build.py`` ...) as a plain typer
command function; ``cli/main.py`` registers them. Commands raise :class:`aiedge.errors.AiedgeError`
for user mistakes; ``main`` prints those as one line and exits 1. Bad usage exits 2 (click).
"""
