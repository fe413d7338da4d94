"""Smoke tests: an app's test request and expected response, and how to check a server with them.

Used by ``build`` (before pushing), the ``agent`` (before switching traffic) and the demo.
INTERFACE STUB written by the lead: the build owner implements ``testdata``, ``compare`` and
``runner`` keeping these signatures.
"""
