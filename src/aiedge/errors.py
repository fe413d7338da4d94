"""The root of aiedge's error types.

Every package defines its own errors (``aiedge.serve.errors``, ``aiedge.builder.errors``...) as
subclasses of :class:`AiedgeError`. The CLI prints an ``AiedgeError`` as one line and exits 1;
anything else is a bug and keeps its traceback. Domain errors carry no HTTP status codes: each
transport maps them at its own boundary.
"""


class AiedgeError(Exception):
    """A problem the user can fix: bad input, an unreachable peer, a broken model."""
