"""The Git webhook of a real `aiedge hub` (issue 12 point 6): refused without a valid signature
made with `--webhook-secret-file` (GitHub's X-Hub-Signature-256, Gitea's X-Gitea-Signature,
GitLab's X-Gitlab-Token), and, however many calls come, at most one pending poll: 3,000 calls
used to start 3,000 git reads and stall GET /api/v1/sites for 44 s."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from aiedge.gitops import set_app_image
from aiedge.hub.errors import BadWebhook
from aiedge.hub.webhooks import verify
from tests.gitops.helpers import git
from tests.hub.helpers import StartHub, bearer, operator_token
from tests.support import aiedge_cmd, wait_until

SECRET = b"correct horse battery staple"
BODY = b'{"ref": "refs/heads/main"}'
HOOK = "/api/v1/webhook/git"


def _sign(body: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def test_signatures_in_each_servers_convention() -> None:
    assert verify({"x-hub-signature-256": f"sha256={_sign(BODY)}"}, BODY, SECRET) == "x-hub-signature-256"
    assert verify({"x-gitea-signature": _sign(BODY)}, BODY, SECRET) == "x-gitea-signature"
    assert verify({"x-gitlab-token": SECRET.decode()}, BODY, SECRET) == "x-gitlab-token"
    for headers, why in [
        ({}, "unsigned"),
        ({"x-hub-signature-256": _sign(BODY)}, "sha256="),
        ({"x-hub-signature-256": f"sha256={_sign(BODY, b'another secret!!')}"}, "does not match"),
        ({"x-gitea-signature": _sign(BODY + b" ")}, "does not match"),
        ({"x-gitlab-token": "guess"}, "not the hub's webhook secret"),
    ]:
        with pytest.raises(BadWebhook, match=why):
            verify(headers, BODY, SECRET)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    f = tmp_path / "webhook-secret"
    f.write_bytes(SECRET + b"\n")
    f.chmod(0o600)
    return f


def test_only_signed_calls_poll_the_repo(start_hub: StartHub, repo: Path, secret_file: Path) -> None:
    hub = start_hub(repo, "--poll-interval", "600", "--webhook-secret-file", str(secret_file))
    admin = operator_token(hub.data)
    url = f"{hub.url}{HOOK}"
    unsigned = httpx.post(url, content=BODY)
    assert unsigned.status_code == 401 and "unsigned" in unsigned.json()["error"]
    # not even an admin's token stands in for the signature
    assert httpx.post(url, content=BODY, headers=bearer(admin)).status_code == 401
    forged = httpx.post(url, content=BODY, headers={"X-Gitea-Signature": _sign(BODY, b"not the secret!!")})
    assert forged.status_code == 401
    # a commit, then a GitHub-signed call: the hub polls at once (it would wait 600 s otherwise)
    set_app_image(repo, "housing", "127.0.0.1:5000/aiedge/tensorflow-housing", "sha256:" + "ab" * 32, "build")
    head = git(repo, "rev-parse", "HEAD")
    signed = httpx.post(url, content=BODY, headers={"X-Hub-Signature-256": f"sha256={_sign(BODY)}"})
    assert signed.status_code == 202, signed.text
    wait_until(
        lambda: httpx.get(f"{hub.url}/api/v1/health").json()["revision"] == f"main@sha1:{head}",
        timeout=30,
        what="the signed webhook's poll",
    )
    gitlab = httpx.post(url, content=b"{}", headers={"X-Gitlab-Token": SECRET.decode()})
    assert gitlab.status_code == 202


def test_a_hub_without_a_secret_takes_no_webhook_calls(
    start_hub: StartHub, repo: Path, tmp_path: Path
) -> None:
    hub = start_hub(repo)
    r = httpx.post(f"{hub.url}{HOOK}", content=BODY)
    assert r.status_code == 401 and "--webhook-secret-file" in r.json()["error"]
    short = tmp_path / "short"
    short.write_text("abc")
    cmd = aiedge_cmd("hub", "--gitops", str(repo), "--data", str(tmp_path / "d"))
    bad = subprocess.run(
        [*cmd, "--webhook-secret-file", str(short)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1 and "16 bytes or more" in bad.stderr and bad.stderr.count("\n") == 1


def test_a_flood_of_webhook_calls_is_one_pending_poll(
    start_hub: StartHub, repo: Path, secret_file: Path
) -> None:
    hub = start_hub(repo, "--poll-interval", "600", "--webhook-secret-file", str(secret_file))
    read = operator_token(hub.data, "read")
    headers = {"X-Hub-Signature-256": f"sha256={_sign(BODY)}"}
    queued: list[bool] = []
    sites_answered: list[int] = []
    done = threading.Event()

    def flood() -> None:
        with httpx.Client(base_url=hub.url, timeout=60) as client:
            for _ in range(375):
                r = client.post(HOOK, content=BODY, headers=headers)
                assert r.status_code == 202, r.text
                queued.append(r.json()["queued"])

    def read_sites() -> None:
        with httpx.Client(base_url=hub.url, timeout=30, headers=bearer(read)) as client:
            while not done.is_set():
                sites_answered.append(client.get("/api/v1/sites").status_code)

    reader = threading.Thread(target=read_sites)
    reader.start()
    threads = [threading.Thread(target=flood) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert len(queued) == 3000
    polls = sum(queued)
    print(
        f"3,000 webhook calls queued {polls} polls; GET /sites answered {len(sites_answered)} times meanwhile"
    )
    assert polls < 300, polls  # each call joins the poll already waiting
    assert sites_answered and set(sites_answered) == {200}
