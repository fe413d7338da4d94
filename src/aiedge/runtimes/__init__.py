"""How a model server runs: one strategy per module, each starting ``aiedge serve`` for one app
version on private loopback ports and stopping it again (a
:class:`~aiedge.smoke.server.ModelServer`): ``process`` as a local child process, ``podman`` as a
container of a runnable image (Kubernetes would be a sibling).

The agent serves its apps with them and build makes its trial runs with them; readiness, smoke
tests and traffic switching belong to their callers (:mod:`aiedge.smoke.runner`, the agent's
reconciler), which treat every runtime the same way.
"""
