"""Running aiedge in containers without a container daemon at build time: the runtime base image
(``base.py``, built with debootstrap), podman helpers (``engine.py``), OCI image layout folders
(``layout.py``), running an image and replaying its smoke test (``check.py``) and systemd quadlet
units (``quadlet.py``). The agent's podman runtime lives in ``agent/runtimes/podman.py``."""
