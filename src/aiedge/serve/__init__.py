"""The inference server (``aiedge serve``): runtimes, one data plane, thin transports.

Knows nothing of the hub, the agent, builds or GitOps (import-linter checks it).
"""
