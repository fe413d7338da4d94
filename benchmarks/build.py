"""Build + push the seed TensorFlow housing model to a fresh local registry: cold (empty
registry), warm (nothing changed: no blob bytes sent), and after changing one file (only its layer
sent). A second model adds a 32 MiB asset (its own layer, files over 1 MiB get one each) to show
that a small change does not re-send big files.

    .venv/bin/python -m benchmarks.build [--seed ../shared/seed-models/tensorflow-housing/tf2model]

Prints a table: seconds, bytes sent and skipped per step. Runs in-process (``run_build``), with
provenance attached as ``aiedge build`` does by default; no smoke test (that measures serving).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from aiedge.builder.pipeline import BuildRequest, run_build
from aiedge.oci.reference import ImageReference
from benchmarks.common import free_port, start, stop, wait_ready

SEED = Path(__file__).resolve().parent.parent.parent / "shared/seed-models/tensorflow-housing/tf2model"


def _registry(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "config.yml"
    cfg.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = start(["/usr/bin/docker-registry", "serve", str(cfg)], root / "registry.log")
    wait_ready(f"http://127.0.0.1:{port}/v2/", proc, timeout=30)
    return proc, f"127.0.0.1:{port}"


def _step(model: Path, image: str) -> tuple[float, int, int, int, int]:
    req = BuildRequest(model=model, name="tensorflow-housing", image=ImageReference.parse(image))
    t0 = time.perf_counter()
    result = asyncio.run(run_build(req))
    p = result.push
    return time.perf_counter() - t0, p.bytes_sent, p.blobs_sent, p.bytes_skipped, p.blobs_skipped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=Path, default=SEED)
    args = ap.parse_args()
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1700000000")
    with tempfile.TemporaryDirectory(prefix="aiedge-bench-build-") as tmp:
        root = Path(tmp)
        proc, registry = _registry(root / "registry")
        rows = []
        try:
            for label, big in (("housing", 0), ("housing + 32 MiB asset", 32 << 20)):
                model = root / label.replace(" ", "_").replace("+", "")
                shutil.copytree(args.seed, model)
                for p in model.rglob("*"):
                    p.chmod(0o755 if p.is_dir() else 0o644)
                if big:
                    (model / "assets").mkdir(exist_ok=True)
                    (model / "assets" / "table.bin").write_bytes(os.urandom(big))
                image = f"{registry}/bench/{'big' if big else 'seed'}:1"
                rows.append((label, "cold", *_step(model, image)))
                rows.append((label, "warm (no change)", *_step(model, image)))
                (model / "fingerprint.pb").write_bytes((model / "fingerprint.pb").read_bytes() + b"\n")
                rows.append((label, "one small file changed", *_step(model, image)))
        finally:
            stop(proc)
    print(f"{'model':<24} {'step':<24} {'seconds':>8} {'sent':>16} {'skipped':>16}")
    for label, step, secs, sent, n_sent, skipped, n_skipped in rows:
        sent_s, skipped_s = f"{sent:,} B/{n_sent}", f"{skipped:,} B/{n_skipped}"
        print(f"{label:<24} {step:<24} {secs:>8.2f} {sent_s:>16} {skipped_s:>16}")


if __name__ == "__main__":
    main()
