"""The shadow mirror of `aiedge serve`: the comparison of answers (pure), and two real servers,
the serving one mirroring a share of its answered requests to a candidate it is pointed at over
its control endpoint, which refuses whoever lacks the token and any target off loopback."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np

from aiedge.demo.model import DEMO_MODEL_NAME, predict, write_demo_model
from aiedge.serve.shadow import ShadowTarget, compare, v2_request
from tests.serve.helpers import Server
from tests.support import wait_until

TOKEN = "test-control-token"
CONTROL = "/v2/aiedge/shadow"


def test_answers_agree_within_tolerance_or_on_the_argmax() -> None:
    served = {"p": np.asarray([[0.1, 0.7, 0.2]], dtype=np.float32)}

    def answer(data: list[float], shape: list[int] | None = None) -> dict[str, object]:
        return {"outputs": [{"name": "p", "shape": shape or [1, 3], "datatype": "FP32", "data": data}]}

    close = ShadowTarget("http://127.0.0.1:1", rtol=1e-3, atol=1e-6)
    assert compare(served, answer([0.1, 0.7, 0.2]), close)[0]
    ok, worst, why = compare(served, answer([0.2, 0.6, 0.2]), close)
    assert not ok and abs(worst - 0.1) < 1e-6 and "differs by up to" in why
    assert compare(served, answer([0.2, 0.6, 0.2]), ShadowTarget("u", argmax=True))[0]
    assert not compare(served, answer([0.8, 0.1, 0.1]), ShadowTarget("u", argmax=True))[0]
    assert "shape" in compare(served, answer([0.1, 0.7, 0.2], [3, 1]), close)[2]
    assert "missing" in compare(served, {"outputs": []}, close)[2]
    assert not compare(served, answer([float("nan"), 0.7, 0.2]), close)[0]
    assert not compare(served, {"outputs": "x"}, close)[0]
    assert v2_request({"s": np.asarray([b"a"], dtype=object)}) is None  # BYTES are not mirrored


def test_a_server_mirrors_to_the_candidate_it_is_pointed_at(tmp_path: Path, serve: Server) -> None:
    model = write_demo_model(tmp_path / "model")
    env = {"AIEDGE_SERVE_CONTROL_TOKEN": TOKEN, "AIEDGE_SERVE_DRIFT": "false"}
    main = serve(model, DEMO_MODEL_NAME, env=env)
    candidate = serve(model, DEMO_MODEL_NAME)  # the same model: every answer agrees
    auth = {"Authorization": f"Bearer {TOKEN}"}

    # without the token the endpoint does not exist; a server started without one has none at all
    assert httpx.get(f"{main}{CONTROL}").status_code == 404
    assert httpx.get(f"{main}{CONTROL}", headers={"Authorization": "Bearer nope"}).status_code == 404
    assert httpx.get(f"{candidate}{CONTROL}", headers=auth).status_code == 404
    assert httpx.get(f"{main}{CONTROL}", headers=auth).json() == {"shadow": None}
    for bad, field in (
        ({"url": "http://10.0.0.1:80"}, "url"),
        ({"url": "https://127.0.0.1:80"}, "url"),
        ({"url": f"{candidate}/v2"}, "url"),
        ({"url": candidate, "share": 2}, "share"),
        ({"url": candidate, "rtol": "x"}, "rtol"),
        ({"url": candidate, "argmax": 1}, "argmax"),
        ({"url": candidate, "max_per_second": -1}, "max_per_second"),
        ([candidate], "body"),
    ):
        r = httpx.put(f"{main}{CONTROL}", json=bad, headers=auth)
        assert r.status_code == 400 and r.json()["error"].startswith(field), (bad, r.text)
    assert httpx.put(f"{main}{CONTROL}", content=b"{" * 100_000, headers=auth).status_code in (400, 413)

    target = {"url": candidate, "share": 0.5, "max_per_second": 10_000}  # no rate cap in this test
    r = httpx.put(f"{main}{CONTROL}", json=target, headers=auth)
    assert r.status_code == 200 and r.json()["shadow"]["share"] == 0.5
    rows = np.arange(40 * 8, dtype=np.float32).reshape(40, 8)
    with httpx.Client(timeout=30) as client:
        for row in rows:
            got = client.post(
                f"{main}/v2/models/{DEMO_MODEL_NAME}/infer",
                json={"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP32", "data": row.tolist()}]},
            )
            assert got.status_code == 200
            assert np.allclose(got.json()["outputs"][0]["data"], predict(row[None, :]))

    def stats() -> dict[str, float]:
        doc: dict[str, float] = httpx.get(f"{main}{CONTROL}", headers=auth).json()["shadow"]
        return doc

    wait_until(lambda: stats()["compared"] == 20, timeout=30, what="20 of 40 requests mirrored")
    s = stats()
    assert s["agreed"] == 20 and s["disagreed"] == 0 and s["errors"] == 0 and s["dropped"] == 0
    assert httpx.delete(f"{main}{CONTROL}", headers=auth).json() == {"shadow": None}
    assert httpx.get(f"{main}{CONTROL}", headers=auth).json() == {"shadow": None}
