"""`aiedge build` (placeholder: the owner of this command replaces it)."""

from aiedge.errors import AiedgeError


def build_command() -> None:
    """Not built yet."""
    raise AiedgeError("build is not built yet")
