"""`aiedge status` (placeholder: the owner of this command replaces it)."""

from aiedge.errors import AiedgeError


def status_command() -> None:
    """Not built yet."""
    raise AiedgeError("status is not built yet")
