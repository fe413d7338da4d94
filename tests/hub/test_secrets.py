"""Site secrets through a real hub process with credentials on (the default): each site's
desired state carries its own SiteSecret ciphertexts and never another site's, a site's credential
cannot read another site's state (403), the agent's recipient sent at enrolment and in status is
shown by the API next to its Site's ageRecipient, and the hub holds no key that could decrypt."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pyrage
from pyrage import x25519

from aiedge.gitops import set_app_image
from tests.gitops.helpers import git
from tests.hub.helpers import StartHub, bearer, operator_token
from tests.support import aiedge_cmd, wait_until

DIGEST = "sha256:" + "ef" * 32


def _enrol(hub_url: str, hub_data: Path, site: str, recipient: str) -> str:
    made = subprocess.run(
        aiedge_cmd("hub", "token", "create", "--site", site, "--data", str(hub_data)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body = {"token": made.stdout.strip(), "site": site, "age_recipient": recipient}
    r = httpx.post(f"{hub_url}/api/v1/enroll", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["credential"])


def test_each_site_gets_only_its_own_ciphertexts(repo: Path, start_hub: StartHub) -> None:
    keys = {s: x25519.Identity.generate() for s in ("site-a", "site-b")}
    recipients = {s: str(k.to_public()) for s, k in keys.items()}
    for site, recipient in recipients.items():
        path = repo / "sites" / f"{site}.yaml"
        path.write_text(path.read_text() + f"spec:\n  ageRecipient: {recipient}\n")
    for site in recipients:
        out = subprocess.run(
            aiedge_cmd(
                "secret",
                "encrypt",
                "--gitops",
                str(repo),
                "--site",
                site,
                "--app",
                "housing",
                f"API_KEY=key-of-{site}",
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "site secrets")
    set_app_image(repo, "housing", "127.0.0.1:5000/aiedge/housing", DIGEST, "first build")

    hub = start_hub(repo)
    cred = {s: _enrol(hub.url, hub.data, s, r) for s, r in recipients.items()}

    def desired(site: str, as_site: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {cred[as_site]}"}
        return httpx.get(f"{hub.url}/api/v1/sites/{site}/desired", headers=headers, timeout=10)

    wait_until(lambda: desired("site-a", "site-a").json()["apps"], timeout=30, what="a digest served")
    ciphertexts = {}
    for site in recipients:
        r = desired(site, site)
        assert r.status_code == 200
        (app,) = r.json()["apps"]
        assert set(app["secrets"]) == {"API_KEY"}
        ciphertexts[site] = app["secrets"]["API_KEY"]
        assert pyrage.decrypt(ciphertexts[site].encode(), [keys[site]]) == f"key-of-{site}".encode()
    assert ciphertexts["site-b"] not in desired("site-a", "site-a").text
    assert ciphertexts["site-a"] not in desired("site-b", "site-b").text
    assert desired("site-b", "site-a").status_code == 403
    assert desired("site-a", "site-b").status_code == 403
    # site-c has no SiteSecret: its apps carry no secrets field at all
    op = bearer(operator_token(hub.data, "read"))
    c = httpx.get(f"{hub.url}/api/v1/sites/site-c", timeout=10, headers=op).json()
    assert c["declared_age_recipient"] is None and c["age_recipient"] is None

    # the agent's status report carries its recipient; the API shows it beside Git's
    report = {"site": "site-a", "time": "2026-01-01T00:00:00Z", "age_recipient": recipients["site-a"]}
    posted = httpx.post(
        f"{hub.url}/api/v1/sites/site-a/status",
        json=report,
        headers={"Authorization": f"Bearer {cred['site-a']}"},
        timeout=10,
    )
    assert posted.status_code == 204, posted.text
    a = httpx.get(f"{hub.url}/api/v1/sites/site-a", timeout=10, headers=op).json()
    assert a["age_recipient"] == a["declared_age_recipient"] == recipients["site-a"]
    assert f"age recipient {recipients['site-a']}" in hub.proc.log()

    # the hub keeps no identity and no plaintext
    for path in hub.data.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            assert b"AGE-SECRET-KEY" not in blob and b"key-of-site" not in blob
