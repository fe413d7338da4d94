"""The hub's durable state, owned here alone: the tables (:mod:`.rows`, private), opening the
database (:mod:`.engine`), the :class:`Store` with its units of work (:class:`Transaction`), the
metrics history's table (:mod:`.metrics`) and operators' tokens (:mod:`.operators`). Everything
else gets plain data."""

from aiedge.hub.store.engine import NOTIFY_CHANNEL, check_url, engine_url, is_postgres, open_engine
from aiedge.hub.store.metrics import MetricsStore, Minute
from aiedge.hub.store.operators import Operators, OperatorToken
from aiedge.hub.store.store import Store
from aiedge.hub.store.transaction import PublishedFleet, Transaction

__all__ = [
    "NOTIFY_CHANNEL",
    "MetricsStore",
    "Minute",
    "OperatorToken",
    "Operators",
    "PublishedFleet",
    "Store",
    "Transaction",
    "check_url",
    "engine_url",
    "is_postgres",
    "open_engine",
]
