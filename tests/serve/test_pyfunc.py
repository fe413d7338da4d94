"""MLflow pyfunc models served by `aiedge serve`: refused without --allow-pickle (one line, exit 1);
with it, served from the model's own environment (its pinned extra requirement, not the server's)
on /invocations and V2 through the one data plane; a killed host process is started again on the
next request; a model without an environment says how to make one."""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import termios
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from aiedge.builder.pyfunc import prepare_env
from tests.pyfunc_models import COLUMNS, EXTRA_ANSWER, save_pyfunc_model
from tests.serve.helpers import Server
from tests.support import aiedge_cmd, free_port, wait_until


@pytest.fixture(scope="module")
def pyfunc_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pyfunc model with its environment installed (wheels from the package index)."""
    model = save_pyfunc_model(tmp_path_factory.mktemp("pyfunc") / "bikes")
    prepare_env(model, tmp_path_factory.mktemp("wheels"))
    return model


def test_refused_without_the_opt_in(tmp_path: Path) -> None:
    model = save_pyfunc_model(tmp_path / "bikes")
    done = subprocess.run(
        aiedge_cmd("serve", str(model), "--name", "bikes", "--http-port", str(free_port())),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "MLflow pyfunc model is code" in lines[0] and "--allow-pickle" in lines[0]
    assert str(model) in lines[0]


def test_serves_invocations_from_its_own_environment(pyfunc_model: Path, serve: Server) -> None:
    import six  # the server's own: another version than the model pins

    assert six.__version__ != "1.16.0"
    url = serve(pyfunc_model, "bikes", "--allow-pickle")
    body = {"dataframe_split": {"columns": list(COLUMNS), "data": [[1.0, 2.0], [3.0, 4.0]]}}
    r = httpx.post(f"{url}/invocations", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [EXTRA_ANSWER, EXTRA_ANSWER]}
    records = httpx.post(f"{url}/invocations", json={"dataframe_records": [{"b": 1, "a": 2}]}, timeout=30)
    assert records.json() == {"predictions": [EXTRA_ANSWER]}
    meta = httpx.get(f"{url}/v2/models/bikes", timeout=10).json()
    assert meta["platform"] == "mlflow-pyfunc" and meta["inputs"][0]["shape"] == [-1, 2]
    v2 = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 2], "data": [5.0, 6.0]}]}
    answer = httpx.post(f"{url}/v2/models/bikes/infer", json=v2, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == [EXTRA_ANSWER]
    missing = httpx.post(
        f"{url}/invocations", json={"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}, timeout=30
    )
    assert missing.status_code == 400 and "missing b" in missing.json()["error"]


def test_without_an_environment_says_how_to_make_one(tmp_path: Path, serve: Server) -> None:
    model = save_pyfunc_model(tmp_path / "bikes")
    url = serve(model, "bikes", "--allow-pickle", ready=False)
    state = httpx.get(f"{url}/v2/models/bikes", timeout=10)
    text = state.text
    assert ".pyfunc-env" in text and "aiedge build --base IMAGE --allow-pickle" in text, text


def _host_pids(model: Path) -> list[int]:
    """The pyfunc hosts serving ``model`` (their command line names its unique folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(a.endswith(b"pyfunc_host.py") for a in argv) and str(model).encode() in argv:
            pids.append(int(entry.name))
    return pids


def _unread(host: int) -> int:
    """Bytes the server has written to ``host``'s input that the host has not read yet."""
    with open(f"/proc/{host}/fd/0", "rb", buffering=0) as pipe:
        return struct.unpack("i", fcntl.ioctl(pipe, termios.FIONREAD, b"\0" * 4))[0]


def test_a_killed_host_is_started_again(pyfunc_model: Path, serve: Server) -> None:
    url = serve(pyfunc_model, "bikes", "--allow-pickle")
    body = {"dataframe_split": {"columns": list(COLUMNS), "data": [[1.0, 2.0]]}}
    assert httpx.post(f"{url}/invocations", json=body, timeout=30).status_code == 200
    (host,) = _host_pids(pyfunc_model)
    os.kill(host, signal.SIGSTOP)  # the request below reaches the host's pipe, not the host
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(httpx.post, f"{url}/invocations", json=body, timeout=60)
        wait_until(lambda: _unread(host) > 0, timeout=30, what="the request in the host's pipe")
        os.kill(host, signal.SIGKILL)  # dies in the middle of the request
        cut = pending.result()
    assert cut.status_code == 503, cut.text  # not the model's fault, and worth a retry
    assert "pyfunc host exited" in cut.json()["error"] and "starts again" in cut.json()["error"]
    again = httpx.post(f"{url}/invocations", json=body, timeout=300)  # loads the model again
    assert again.status_code == 200, again.text
    assert again.json() == {"predictions": [EXTRA_ANSWER]}
    (restarted,) = _host_pids(pyfunc_model)
    assert restarted != host
