"""`aiedge serve` (placeholder: the owner of this command replaces it)."""

from aiedge.errors import AiedgeError


def serve_command() -> None:
    """Not built yet."""
    raise AiedgeError("serve is not built yet")
