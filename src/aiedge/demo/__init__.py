"""`aiedge demo`: the whole path on one machine, every joint real.

It starts, on loopback: a real OCI registry (Debian's ``docker-registry``), a Git repo made from
the example repo (``examples/gitops/``, package data here, found with :mod:`importlib.resources`
so that an installed wheel runs the demo too), a build and push of the model (whose digest
``aiedge build`` commits into that repo), a hub, and three agents (three sites) that pull,
verify, smoke-test and serve the model. It runs until Ctrl-C or SIGTERM, then stops everything
it started. When one of its processes dies (the hub, an agent, the registry) it says so and how
to start it again, and keeps the others running: a dead hub leaves every site serving, which is
the point of the design. Join tokens reach the agents in their environment
(``AIEDGE_AGENT_TOKEN``), never on their command line.

With ``--runtime podman``, site-a runs its app under podman: the demo takes aiedge's base image
(built with debootstrap once and cached under ``~/.cache/aiedge/base/images``), pushes it to the
demo's registry, builds the model on it (``aiedge build --base``) for an App of its own, and starts
site-a's agent with ``--runtime podman``; the other sites keep local processes.

``run`` runs it, ``gitops`` writes its repo, ``model`` is its own model, ``supervisor`` its
processes.
"""
