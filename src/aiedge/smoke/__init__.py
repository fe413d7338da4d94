"""Smoke tests: an app's test request and expected response, and how to check a server with them.

Used by ``build`` (before pushing), the ``agent`` (before switching traffic) and the demo:
``testdata`` reads test requests and expected answers, ``compare`` checks an answer with
tolerances, ``runner`` replays a test against a running server.
"""
