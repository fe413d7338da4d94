"""How the agent runs a model server: one strategy per module behind :class:`base.Runtime`
(local processes today; podman and Kubernetes would be siblings)."""
