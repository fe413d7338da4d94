"""The revision a hub serves: its repo and each site's desired state at it, and how a revision's
files and a site's desired apps are packed into the store (see :mod:`aiedge.hub.fleet`)."""

from __future__ import annotations

import base64
from datetime import datetime

import orjson

from aiedge.contracts import DesiredApp, DesiredState, LinkBudget
from aiedge.gitops import GitopsRepo, Snapshot, UnknownSite, desired_for_site, load_repo
from aiedge.gitops.desired import site_link
from aiedge.hub.store import Store


def apps_json(apps: list[DesiredApp]) -> str:
    return orjson.dumps([a.model_dump(mode="json") for a in apps]).decode()


def parse_apps(apps: str) -> list[DesiredApp]:
    return [DesiredApp.model_validate(a) for a in orjson.loads(apps)]


def state_digest(apps: list[DesiredApp], link: LinkBudget | None) -> str:
    """The digest of a site's desired state as the site computes it: its apps and its link."""
    return DesiredState(site="-", revision="-", apps=apps, link=link).digest


def pack_files(files: dict[str, bytes]) -> bytes:
    return orjson.dumps({p: base64.b64encode(b).decode() for p, b in files.items()})


def unpack_files(blob: bytes) -> dict[str, bytes]:
    raw: dict[str, str] = orjson.loads(blob)
    return {p: base64.b64decode(b) for p, b in raw.items()}


def published_repo(store: Store) -> GitopsRepo | None:
    """Blocking: the revision the hubs on this database serve; None before the first publish."""
    revision, files, _ = store.fleet_files()
    if revision is None or files is None:
        return None
    return load_repo(Snapshot(revision, unpack_files(files)))


class Revision:
    """The published revision and each site's desired state at it (built once per sync)."""

    def __init__(self, repo: GitopsRepo, loaded_at: datetime, apps: dict[str, tuple[list[DesiredApp], str]]):
        self.repo = repo
        self.loaded_at = loaded_at
        self._apps = apps
        self._desired: dict[str, tuple[DesiredState, str]] = {}

    def desired(self, site: str) -> tuple[DesiredState, str]:
        """The site's desired state and its digest; :class:`UnknownSite` if not defined."""
        hit = self._desired.get(site)
        if hit is None:
            if site not in self.repo.sites:
                raise UnknownSite(site, self.repo.revision)
            found = self._apps.get(site)
            if found is None:  # published after this sync began: render it (no rollout applies)
                state = desired_for_site(self.repo, site)
                hit = (state, state.digest)
            else:
                link = site_link(self.repo, site)  # the Site's at this revision, as the stored digest
                state = DesiredState(site=site, revision=self.repo.revision, apps=found[0], link=link)
                hit = (state, found[1])
            self._desired[site] = hit
        return hit
