"""The hub (the core): reads the GitOps repo, serves each site its desired state (long poll),
takes status reports, enrols sites. Shares only :mod:`aiedge.contracts` with the agent."""
