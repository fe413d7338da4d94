"""The site agent: pulls the site's desired state from the hub, fetches model images into a
content-addressed cache, runs each app as a model server behind a site-port proxy, smoke-tests a
new version beside the old one before switching traffic, and reports status.

It only dials out (hub, registries). It never imports ``aiedge.hub``: the two share only
``aiedge.contracts``. Entry point: :func:`aiedge.agent.loop.run_agent`.
"""
