"""OCI images and registries: the image format we write and the distribution API we speak.

Shared by ``build`` (writes and pushes images) and ``agent`` (pulls and verifies them). Knows
nothing of models, GitOps, the hub or the agent's reconcile loop.
"""
