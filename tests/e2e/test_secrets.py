"""App secrets end to end, with a real registry, Git repo, hub (auth on) and agents: each site's
recipient is printed by `aiedge agent recipient` and committed as its Site's ageRecipient; a value
encrypted with `aiedge secret encrypt` for site-a reaches the environment of site-a's serving
process (read from /proc/PID/environ) and no file anywhere; site-b's desired state never holds
site-a's ciphertext; a changed value restarts the app through the smoke-gated switch; a secret
encrypted to a key the site no longer has is ``SecretDecryptFailed`` at the hub while the site
keeps serving."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from aiedge.demo.gitops import APP_NAME
from tests.e2e.helpers import build_demo, demo_source, predict_demo
from tests.gitops.helpers import git
from tests.hub.helpers import bearer, operator_token
from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until


def _run(*args: str) -> str:
    out = subprocess.run(aiedge_cmd(*args), capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _set_recipient(gitops: Path, site: str, recipient: str) -> None:
    path = gitops / "sites" / f"{site}.yaml"
    text = path.read_text()
    assert "spec:" not in text
    path.write_text(text + f"spec:\n  ageRecipient: {recipient}\n")


def _serving_envs(agent_data: Path) -> list[dict[str, str]]:
    """The environments of the model servers the agent at ``agent_data`` runs now."""
    envs = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            if b"serve" not in args or not any(str(agent_data).encode() in a for a in args):
                continue
            raw = (proc / "environ").read_bytes()
        except OSError:
            continue
        pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
        envs.append({k: v for k, _, v in pairs})
    return envs


def _site(op: httpx.Client, site: str) -> dict:  # type: ignore[type-arg]
    """What the hub's operator API says of ``site`` (``op``: a client with an operator token)."""
    return dict(op.get(f"/api/v1/sites/{site}", timeout=5).json())


def _healthy_on(op: httpx.Client, site: str, digest: str) -> bool:
    s = _site(op, site)
    return s["status"] == "healthy" and [a["digest"] for a in s["apps"]] == [digest]


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


def test_site_secrets_reach_their_site_only(tmp_path: Path, registry: str) -> None:
    src = demo_source(tmp_path, registry, "secrets")
    digest = build_demo(src, "v1")
    gitops = src.gitops
    data = {s: tmp_path / s for s in ("site-a", "site-b")}
    recipients = {s: _run("agent", "recipient", "--data", str(d)) for s, d in data.items()}
    # site-b's entry in Git names a key the site no longer has (its data folder was made anew)
    stale = _run("agent", "recipient", "--data", str(tmp_path / "site-b-before"))
    _set_recipient(gitops, "site-a", recipients["site-a"])
    _set_recipient(gitops, "site-b", stale)
    common = ("secret", "encrypt", "--gitops", str(gitops), "--app", APP_NAME)
    _run(*common, "--site", "site-a", "DEMO_TOKEN=alpha-first-value")
    git(gitops, "add", "-A")
    git(gitops, "commit", "-q", "-m", "site-a: DEMO_TOKEN")

    hub_data, hub_port = tmp_path / "hub", free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    hub = Proc(
        aiedge_cmd(
            "hub",
            "--gitops",
            str(gitops),
            "--data",
            str(hub_data),
            "--port",
            str(hub_port),
            "--poll-interval",
            "1",
        ),
        tmp_path / "logs/hub.log",
    )
    procs = [hub]
    op = httpx.Client(base_url=hub_url)
    try:
        wait_http(f"{hub_url}/api/v1/health")
        op.headers.update(bearer(operator_token(hub_data, "read")))
        urls: dict[str, str] = {}
        for site, folder in data.items():
            port = free_port()
            urls[site] = f"http://127.0.0.1:{port}"
            token = _run("hub", "token", "create", "--site", site, "--data", str(hub_data))
            cmd = aiedge_cmd(
                "agent",
                "--hub",
                hub_url,
                "--site",
                site,
                "--data",
                str(folder),
                "--token",
                token,
                "--port-offset",
                str(port - 8080),
                "--poll-interval",
                "1",
            )
            procs.append(Proc(cmd, tmp_path / f"logs/agent-{site}.log"))
        for site in data:
            wait_until(lambda s=site: _healthy_on(op, s, digest), timeout=120, what=f"{site} healthy")

        # the value is in site-a's serving process, decrypted there
        assert any(e.get("DEMO_TOKEN") == "alpha-first-value" for e in _serving_envs(data["site-a"]))
        assert all("DEMO_TOKEN" not in e for e in _serving_envs(data["site-b"]))
        assert predict_demo(urls["site-a"]) == [6.5]

        # each site reads its own desired state only, and site-b's holds no ciphertext of site-a's
        cred = {s: (d / "credential").read_text().strip() for s, d in data.items()}

        def desired(site: str, as_site: str) -> httpx.Response:
            return httpx.get(
                f"{hub_url}/api/v1/sites/{site}/desired",
                headers={"Authorization": f"Bearer {cred[as_site]}"},
                timeout=5,
            )

        (app_a,) = desired("site-a", "site-a").json()["apps"]
        ciphertext_a = app_a["secrets"]["DEMO_TOKEN"]
        assert ciphertext_a.startswith("-----BEGIN AGE ENCRYPTED FILE-----")
        body_b = desired("site-b", "site-b")
        assert body_b.status_code == 200 and "secrets" not in body_b.json()["apps"][0]
        assert ciphertext_a not in body_b.text
        assert desired("site-a", "site-b").status_code == 403
        assert desired("site-b", "site-a").status_code == 403

        # the hub shows each site's reported recipient beside the one its Site in Git declares
        a, b = _site(op, "site-a"), _site(op, "site-b")
        assert a["age_recipient"] == a["declared_age_recipient"] == recipients["site-a"]
        assert b["age_recipient"] == recipients["site-b"] and b["declared_age_recipient"] == stale
        shown = subprocess.run(
            aiedge_cmd("status", "site-b", "--hub", hub_url),
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "400", "AIEDGE_TOKEN": op.headers["authorization"][7:]},
            check=True,
        ).stdout
        assert f"age recipient  {recipients['site-b']} (its Site in Git has {stale}" in shown

        # a new value for site-a, and a value for site-b encrypted to its stale key
        _run(*common, "--site", "site-a", "DEMO_TOKEN=alpha-second-value")
        _run(*common, "--site", "site-b", "DEMO_TOKEN=never-decrypted")
        git(gitops, "add", "-A")
        git(gitops, "commit", "-q", "-m", "rotate DEMO_TOKEN")
        wait_until(
            lambda: any(e.get("DEMO_TOKEN") == "alpha-second-value" for e in _serving_envs(data["site-a"])),
            timeout=120,
            what="site-a serving with the new value",
        )
        wait_until(
            lambda: (
                _healthy_on(op, "site-a", digest) and "Ready" in _site(op, "site-a")["apps"][0]["message"]
            ),
            timeout=60,
            what="site-a switched and ready",
        )
        wait_until(
            lambda: "SecretDecryptFailed" in _site(op, "site-b")["apps"][0]["message"],
            timeout=120,
            what="site-b reporting SecretDecryptFailed",
        )
        ciphertext_b = desired("site-b", "site-b").json()["apps"][0]["secrets"]["DEMO_TOKEN"]
        assert ciphertext_b not in desired("site-a", "site-a").text
        b = _site(op, "site-b")
        assert b["status"] == "degraded" and "SecretDecryptFailed" in (b["last_error"] or "")
        assert "secret DEMO_TOKEN of app housing does not decrypt" in b["apps"][0]["message"]
        assert b["apps"][0]["digest"] == digest  # still serving what it had
        assert predict_demo(urls["site-b"]) == [6.5]
        assert all("DEMO_TOKEN" not in e for e in _serving_envs(data["site-b"]))

        # plaintext was never written: not by the CLI, the hub, the agents or their logs
        for value in (b"alpha-first-value", b"alpha-second-value", b"never-decrypted"):
            assert _files_holding(tmp_path, value) == []
        for site in data:
            assert os.stat(data[site] / "age-identity.txt").st_mode & 0o077 == 0
    finally:
        op.close()
        for p in reversed(procs):
            p.stop()
