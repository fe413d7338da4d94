"""Telemetry: scraping, the on-disk sample buffer and Prometheus remote-write.

Empty in the walking skeleton; the observability issue fills it.
"""
