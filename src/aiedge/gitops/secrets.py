"""Writing a SiteSecret as a user would with SOPS: values encrypted to the Site's ``ageRecipient``
(read from the repo's Site), put into the SiteSecret of that site and app (updated in place,
comments kept, or a new ``secrets/SITE/APP.yaml``). Plaintext exists only in memory here; the
file gets ciphertext. Nothing is committed: the user reviews and commits the file.

The repo is scanned leniently (not validated first), so a repo whose secrets must be encrypted
again, say after a site's key changed, can be fixed with this very command.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import LiteralScalarString

from aiedge.gitops.age import encrypt
from aiedge.gitops.errors import GitopsError
from aiedge.gitops.loader import plain
from aiedge.gitops.schema import API_VERSION, ENV_NAME_RE, NAME_RE, SiteSecret
from aiedge.gitops.worktree import WorkDoc, named, work_tree_documents


@dataclass(frozen=True)
class Written:
    """What :func:`encrypt_site_secret` did: the file (relative to the repo), the recipient, the
    names it encrypted and the names the SiteSecret holds now."""

    path: str
    recipient: str
    encrypted: list[str]
    names: list[str]


def _spec(doc: CommentedMap) -> dict[str, Any]:
    spec = doc.get("spec")
    return spec if isinstance(spec, dict) else {}


def _secret_name(site: str, app: str) -> str:
    name = f"{site}-{app}"
    if len(name) <= 63:
        return name
    return f"{name[:50].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def encrypt_site_secret(
    repo_dir: Path, site: str, app: str, values: dict[str, bytes], *, replace: bool = False
) -> Written:
    """Encrypt ``values`` (env name -> plaintext) to ``site``'s ageRecipient into the SiteSecret
    of ``site`` and ``app``; other names it holds are kept, or dropped with ``replace``."""
    for name, pattern in ((site, NAME_RE), (app, NAME_RE)):
        if not re.match(pattern, name):
            raise GitopsError(f"{name!r} is not a valid name (lowercase letters, digits and -)")
    bad = [n for n in values if not re.match(ENV_NAME_RE, n)]
    if bad:
        raise GitopsError(f"{bad[0]!r} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    if not values:
        raise GitopsError("give at least one KEY=VALUE to encrypt")
    if not repo_dir.is_dir():
        raise GitopsError(f"{repo_dir} is not a directory")
    docs = work_tree_documents(repo_dir)
    sites = [d for d in docs if named(d.doc, "Site", site)]
    if not sites:
        raise GitopsError(f"no Site named {site!r} in the GitOps repo {repo_dir}")
    recipient = _spec(sites[0].doc).get("ageRecipient")
    if not isinstance(recipient, str) or not recipient:
        raise GitopsError(
            f"Site {site!r} ({sites[0].path.relative_to(repo_dir)}) has no spec.ageRecipient: print the "
            "site's recipient with `aiedge agent recipient --data DIR` at the site and set it there"
        )
    if not any(named(d.doc, "App", app) for d in docs):
        raise GitopsError(f"no App named {app!r} in the GitOps repo {repo_dir}")
    existing = next(
        (
            d
            for d in docs
            if d.doc.get("kind") == "SiteSecret"
            and _spec(d.doc).get("site") == site
            and _spec(d.doc).get("app") == app
        ),
        None,
    )
    try:
        ciphertexts = {n: encrypt(v, recipient) for n, v in sorted(values.items())}
    except ValueError as e:
        raise GitopsError(f"Site {site!r}: spec.ageRecipient: {e}") from None
    if existing is None:
        target = _new_document(repo_dir, site, app)
    else:
        target = existing
        _check_kept(target, recipient, set(values), replace)
    spec = target.doc["spec"]
    spec["recipient"] = recipient
    data = spec.get("data")
    if not isinstance(data, CommentedMap) or replace:
        data = CommentedMap()
        spec["data"] = data
    for name, ciphertext in ciphertexts.items():
        data[name] = LiteralScalarString(ciphertext)
    SiteSecret.model_validate(plain(target.doc))  # never write a file validate would refuse
    target.write()
    return Written(
        path=target.path.relative_to(repo_dir).as_posix(),
        recipient=recipient,
        encrypted=sorted(values),
        names=sorted(str(n) for n in data),
    )


def _check_kept(target: WorkDoc, recipient: str, given: set[str], replace: bool) -> None:
    spec = _spec(target.doc)
    old = spec.get("recipient")
    data = spec.get("data")
    kept = sorted(str(n) for n in data if n not in given) if isinstance(data, dict) and not replace else []
    if kept and old != recipient:
        raise GitopsError(
            f"{target.path.name}: {', '.join(kept)} {'was' if len(kept) == 1 else 'were'} encrypted to "
            f"{old or 'an unrecorded recipient'}, not the Site's {recipient}: give new values for "
            "them too, or --replace to drop them"
        )
    if not isinstance(target.doc.get("spec"), CommentedMap):
        raise GitopsError(f"{target.path.name}: SiteSecret has no spec mapping")


def _new_document(repo_dir: Path, site: str, app: str) -> WorkDoc:
    path = repo_dir / "secrets" / site / f"{app}.yaml"
    if path.exists():
        raise GitopsError(f"{path} exists but holds no SiteSecret for site {site!r} and app {app!r}")
    doc = CommentedMap()
    doc["apiVersion"] = API_VERSION
    doc["kind"] = "SiteSecret"
    doc["metadata"] = CommentedMap(name=_secret_name(site, app))
    doc["spec"] = CommentedMap(site=site, app=app)
    return WorkDoc(path, "", [doc], doc)
