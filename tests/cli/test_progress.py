"""Long work shows progress: ``aiedge build`` of a model with a 64 MiB file, its stderr a pipe,
prints a plain line at each quarter of packing and of pushing (a rich bar on a terminal), sizes
in IEC units only; and the result stays the one line on stdout that ``-o json`` promises."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from aiedge.demo.model import DEMO_MODEL_NAME, write_demo_model
from tests.support import aiedge_cmd


def test_packing_and_pushing_a_big_file_show_progress_lines(registry: str, tmp_path: Path) -> None:
    model = write_demo_model(tmp_path / "model")
    with (model / "vocabulary.bin").open("wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
    r = subprocess.run(
        aiedge_cmd(
            "build", str(model), "-n", DEMO_MODEL_NAME, "-i", f"{registry}/progress/big:1", "-o", "json"
        ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["digest"].startswith("sha256:")
    lines = r.stderr.splitlines()
    for what in ("packing", "pushing"):
        shares = [int(m.group(1)) for ln in lines if (m := re.match(rf"{what}: .* \((\d+)%\)$", ln))]
        assert len(shares) >= 4 and shares == sorted(shares) and shares[-1] == 100, r.stderr
    assert "of 64.0 MiB" in r.stderr or "of 64.1 MiB" in r.stderr, r.stderr
    assert not re.search(r"\d (KB|MB|GB)\b", r.stderr), r.stderr
