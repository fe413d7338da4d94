"""`aiedge hub` and its enrolment commands refuse bad configuration at once, in one line with
exit 1 and no traceback, before anything starts: no GitOps repo, an unsupported database URL, a
port in use, a join token for a site the repo does not define, revoking a site nobody knows."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.hub.helpers import StartHub
from tests.support import aiedge_cmd, free_port


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(aiedge_cmd(*args), capture_output=True, text=True, timeout=timeout, check=False)


def _refused(r: subprocess.CompletedProcess[str], words: str) -> None:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and words in lines[-1], r.stderr
    assert "Traceback" not in r.stderr and "hub ready" not in r.stderr, r.stderr


def test_the_hub_needs_a_gitops_repo(tmp_path: Path) -> None:
    _refused(_run("hub", "--data", str(tmp_path / "d"), "--port", str(free_port())), "pass --gitops DIR")
    missing = tmp_path / "nowhere"
    _refused(_run("hub", "--gitops", str(missing), "--data", str(tmp_path / "d")), "no such repo or folder")
    assert not (tmp_path / "d").exists()  # nothing was started or written


def test_an_unsupported_database_url_is_one_line(repo: Path, tmp_path: Path) -> None:
    args = ("--gitops", str(repo), "--data", str(tmp_path / "d"), "--port", str(free_port()))
    _refused(_run("hub", *args, "--db", "mysql://x"), "mysql is not supported")
    _refused(
        _run("hub", "--db", "mysql://x", "token", "create", "--site", "site-a"), "mysql is not supported"
    )


def test_a_port_in_use_is_one_line(repo: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = _run("hub", "--gitops", str(repo), "--data", str(tmp_path / "d"), "--port", str(port))
    _refused(r, f"127.0.0.1:{port} is in use")
    _refused(_run("hub", "--gitops", str(repo), "--port", "99999"), "--port: Input should be less than")


def test_join_tokens_only_for_sites_the_repo_defines(repo: Path, tmp_path: Path, start_hub: StartHub) -> None:
    fresh = tmp_path / "fresh"
    # before any hub published a revision the site cannot be checked, unless the repo is given
    _refused(
        _run("hub", "token", "create", "--site", "site-a", "--data", str(fresh)), "published no revision"
    )
    made = _run("hub", "token", "create", "--site", "site-a", "--data", str(fresh), "--gitops", str(repo))
    assert made.returncode == 0 and made.stdout.startswith("aiedge-join-"), made.stderr

    hub = start_hub(repo, "--insecure-no-auth")
    _refused(
        _run("hub", "token", "create", "--site", "site-z", "--data", str(hub.data)),
        "site 'site-z' is not defined in the GitOps repo at main@sha1:",
    )
    ok = _run("hub", "token", "create", "--site", "site-b", "--data", str(hub.data))
    assert ok.returncode == 0 and ok.stdout.startswith("aiedge-join-"), ok.stderr


def test_revoking_an_unknown_site_is_an_error(repo: Path, start_hub: StartHub) -> None:
    hub = start_hub(repo, "--insecure-no-auth")
    _refused(
        _run("hub", "site", "revoke", "site-z", "--data", str(hub.data)), "site 'site-z' is unknown here"
    )
    known = _run("hub", "site", "revoke", "site-c", "--data", str(hub.data))
    assert known.returncode == 0 and known.stdout.strip() == "revoked 0 credentials of site site-c"
