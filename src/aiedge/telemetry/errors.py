"""Telemetry's errors: scraping, the on-disk buffer, remote-write encoding and sending.

They carry no HTTP status codes of our own: the receiver endpoint maps :class:`BadWriteRequest`
to 400 at its boundary, and the shipper reads the receiver's status into
:class:`RejectedBatchError` (permanent) or :class:`RetryableSendError` (transient).
"""

from __future__ import annotations

from aiedge.errors import AiedgeError


class TelemetryError(AiedgeError):
    """Any telemetry problem."""


class ScrapeError(TelemetryError):
    """A scrape target did not answer, answered non-2xx, or served unparsable exposition text."""


class WalError(TelemetryError):
    """The on-disk sample buffer cannot be opened, written or read (bad directory, bad settings)."""


class BadWriteRequest(TelemetryError):
    """A remote-write body that is not snappy-compressed protobuf WriteRequest, or breaks its rules."""


class SendError(TelemetryError):
    """Sending a batch to a remote-write destination failed."""

    def __init__(self, destination: str, reason: str, status: int | None = None) -> None:
        self.destination = destination
        self.reason = reason
        self.status = status
        super().__init__(f"remote-write to {destination}: {reason}")


class RetryableSendError(SendError):
    """Transient: connection error, timeout, 5xx or 429. The batch is kept and sent again."""

    def __init__(
        self, destination: str, reason: str, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(destination, reason, status)
        self.retry_after_s = retry_after_s


class RejectedBatchError(SendError):
    """Permanent: the receiver answered 4xx (not 429). Sending it again cannot succeed."""
