"""What an answer to `aiedge logs` may carry: credentials, tokens, bearer/basic authorization,
age identities and armored blocks, `password=`-style values and known secret values are masked
line by line; log tails are bounded in bytes, lines and line length, control characters
replaced, and lines older than `--since` left out."""

from __future__ import annotations

import os
import time
from pathlib import Path

from aiedge.agent.logbook import TAIL_BYTES, file_tail
from aiedge.agent.redact import MASK, Redactor
from aiedge.contracts.requests import MAX_LINE_CHARS


def test_secrets_are_masked_and_armored_blocks_dropped() -> None:
    r = Redactor(["s3cr3t-value", "abc"])  # too short to mask blindly: "abc"
    lines = r.lines(
        [
            "credential aiedge-site-AbC_d-123 and join aiedge-join-xyz",
            "Authorization: Bearer eyJhbGciOi.payload.sig and Basic dXNlcjpwYXNz",
            'password=hunter2 token: "t0k3n" api_key=K1 secret=s APIKEY=nope',
            "identity AGE-SECRET-KEY-1QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
            "env DB_PASSWORD is s3cr3t-value; abc stays",
            "-----BEGIN AGE ENCRYPTED FILE-----",
            "YWdlLWVuY3J5cHRpb24ub3JnL3Yx",
            "-----END AGE ENCRYPTED FILE-----",
            "after the block",
        ]
    )
    text = "\n".join(lines)
    for leaked in (
        "AbC_d-123",
        "xyz",
        "eyJhbGciOi",
        "dXNlcjpwYXNz",
        "hunter2",
        "t0k3n",
        "K1",
        "QPZRY9X8",
        "s3cr3t",
    ):
        assert leaked not in text, leaked
    assert "YWdl" not in text and "after the block" in text and "abc stays" in text
    assert f"password={MASK}" in text and f"Bearer {MASK}" in text
    assert lines[-2].endswith(f"{MASK} (armored block)")


def test_file_tails_are_bounded(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with log.open("wb") as f:
        f.write(b"x" * (TAIL_BYTES * 2))  # a first line larger than the tail: cut away
        f.write(b"\n" + b"\x1b[31mred\x07\n" + b"y" * (MAX_LINE_CHARS * 3) + b"\n")
        for i in range(5000):
            f.write(f"line {i}\n".encode())
    lines, more = file_tail(log, 100, None)
    assert more and len(lines) == 100 and lines[-1] == "line 4999" and lines[0] == "line 4900"
    everything, _ = file_tail(log, 2000, None)
    assert all(len(line) <= MAX_LINE_CHARS for line in everything)
    assert not any("x" * 100 in line for line in everything)


def test_since_leaves_out_older_stamped_lines(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    old = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 3600))
    new = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    log.write_text(f"{old},000 INFO old line\nno stamp at all\n{new},000 INFO new line\n")
    lines, _ = file_tail(log, 100, 600)
    assert lines == ["no stamp at all", f"{new},000 INFO new line"]
    os.utime(log)
