"""`aiedge agent` (placeholder: the owner of this command replaces it)."""

from aiedge.errors import AiedgeError


def agent_command() -> None:
    """Not built yet."""
    raise AiedgeError("agent is not built yet")
