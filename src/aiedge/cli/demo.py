"""`aiedge demo` (placeholder: the owner of this command replaces it)."""

from aiedge.errors import AiedgeError


def demo_command() -> None:
    """Not built yet."""
    raise AiedgeError("demo is not built yet")
