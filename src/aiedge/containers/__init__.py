"""Running aiedge in containers without a container daemon at build time: the runtime base image
(``base.py``, built with debootstrap), podman helpers (``engine.py``), OCI image layout folders
(``layout.py``), loading and pulling images into podman (``images.py``) and systemd quadlet
units (``quadlet.py``). Model servers run under podman with ``runtimes/podman.py``; ``aiedge build
--test-container`` is ``builder/trial.py``."""
