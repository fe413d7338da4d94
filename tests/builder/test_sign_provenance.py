"""`aiedge keygen`, `aiedge build --sign` and `aiedge verify` as real child processes against a
real registry, and the SLSA provenance attached to every build (subject, source, revision, model
digest, smoke test; DSSE-signed with --sign)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

from aiedge.builder.provenance import model_digest
from aiedge.demo.model import demo_test_data
from aiedge.oci.cosign import attestation_tag, pae
from aiedge.oci.keys import load_public_key, signature_ok
from tests.builder.helpers import blob, cli, pull


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(*args), capture_output=True, text=True, timeout=240,
                          env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000", **(env or {})},
                          check=False)  # fmt: skip


def test_keygen_sign_verify(onnx_model: Path, registry: str, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    r = run("keygen", "--out", str(keys), env={"AIEDGE_KEY_PASSWORD": "pw"})
    assert r.returncode == 0, r.stderr
    assert b"ENCRYPTED" in (keys / "cosign.key").read_bytes()
    td = tmp_path / "td.json"
    td.write_text(json.dumps(demo_test_data()))
    image = f"{registry}/signed/housing:1"
    r = run("build", str(onnx_model), "--name", "housing", "--image", image, "--test-data", str(td),
            "--sign", str(keys / "cosign.key"), "--json", env={"AIEDGE_KEY_PASSWORD": "pw"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    digest = json.loads(r.stdout.strip().splitlines()[-1])["digest"]
    assert "signed: sha256-" in r.stderr and "provenance (signed) attached" in r.stderr

    ok = run("verify", f"{registry}/signed/housing@{digest}", "--key", str(keys / "cosign.pub"))
    assert ok.returncode == 0 and ok.stdout.startswith("verified "), ok.stderr
    assert run("verify", image, "--key", str(keys / "cosign.pub")).returncode == 0

    other = tmp_path / "other"
    assert run("keygen", "--out", str(other)).returncode == 0
    bad = run("verify", image, "--key", str(other / "cosign.pub"))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "none of its 1 signature(s) is verified by this key" in bad.stderr

    locked = run("build", str(onnx_model), "--name", "housing", "--image", image,
                 "--sign", str(keys / "cosign.key"), env={"AIEDGE_KEY_PASSWORD": ""})  # fmt: skip
    assert locked.returncode == 1 and "set AIEDGE_KEY_PASSWORD" in locked.stderr

    # the provenance: a DSSE envelope signed by the same key over an in-toto statement
    manifest, _ = pull(registry, "signed/housing", attestation_tag(digest))
    layer = manifest["layers"][0]
    assert layer["annotations"]["predicateType"] == "https://slsa.dev/provenance/v1"
    envelope = json.loads(blob(registry, "signed/housing", layer["digest"]))
    statement = base64.b64decode(envelope["payload"])
    key = load_public_key((keys / "cosign.pub").read_bytes(), "pub")
    sig = base64.b64decode(envelope["signatures"][0]["sig"])
    assert signature_ok(key, sig, pae(envelope["payloadType"], statement))
    doc = json.loads(statement)
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["subject"] == [{"name": f"{registry}/signed/housing", "digest": {"sha256": digest[7:]}}]
    predicate = doc["predicate"]
    assert predicate["runDetails"]["builder"]["id"] == "aiedge build"
    by_name = {b["name"]: b for b in predicate["runDetails"]["byproducts"]}
    files = sorted((p.name, p) for p in onnx_model.iterdir())
    assert by_name["model"]["digest"] == {"sha256": model_digest(files)[7:]}
    assert by_name["smoke-test"]["annotations"]["passed"] is True
    assert predicate["buildDefinition"]["internalParameters"]["sourceDateEpoch"] == 1700000000
