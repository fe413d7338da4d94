"""`aiedge validate` (placeholder: the owner of this command replaces it)."""

from aiedge.errors import AiedgeError


def validate_command() -> None:
    """Not built yet."""
    raise AiedgeError("validate is not built yet")
