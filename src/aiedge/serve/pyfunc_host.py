"""The pyfunc host: one MLflow pyfunc model, loaded with ``mlflow.pyfunc.load_model`` inside the
model's own environment, answering predictions over its stdin/stdout.

Run as a script, never imported by aiedge: ``PYTHON -I -S pyfunc_host.py MODEL_DIR SITE_DIR``.
``-I -S`` keep the serving interpreter's own packages (aiedge's numpy, pandas...) off ``sys.path``;
only the standard library and ``SITE_DIR`` (the model's pinned requirements) are importable, so
this file imports nothing but the standard library before ``SITE_DIR`` is added.

Frames both ways: a 4-byte big-endian length, then that many bytes of JSON. First the host sends
``{"ready": true}`` or ``{"error": "..."}``; then, for each request ``{"columns": [...] | null,
"data": [[...], ...]}``, it answers ``{"predictions": [...], "dtype": "<f8"}`` or
``{"error": "..."}``. Standard output is the protocol's, so what the model prints goes to stderr.
"""

from __future__ import annotations

import json
import os
import site
import struct
import sys
from typing import IO, Any

MAX_FRAME = 256 << 20


def read_frame(stream: IO[bytes]) -> Any:
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    if size > MAX_FRAME:
        raise ValueError(f"a frame of {size} bytes (the limit is {MAX_FRAME})")
    return json.loads(stream.read(size))


def write_frame(stream: IO[bytes], doc: Any) -> None:
    data = json.dumps(doc).encode()
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def _reason(e: BaseException) -> str:
    text = str(e).splitlines()[0][:300] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: pyfunc_host.py MODEL_DIR SITE_DIR", file=sys.stderr)
        return 2
    model_dir, site_dir = argv[1], argv[2]
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the model's prints must not corrupt the protocol
    requests = os.fdopen(os.dup(0), "rb")
    site.addsitedir(site_dir)
    try:
        import mlflow.pyfunc  # type: ignore[import-not-found,unused-ignore]
        import numpy as np
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        model = mlflow.pyfunc.load_model(model_dir)
    except BaseException as e:  # whatever the model's own code raises while it loads
        write_frame(out, {"error": f"the model does not load in its environment: {_reason(e)}"})
        return 1
    write_frame(out, {"ready": True})
    while True:
        request = read_frame(requests)
        if request is None:
            return 0
        try:
            frame = pd.DataFrame(request["data"], columns=request.get("columns") or None)
            answer = np.asarray(model.predict(frame))
            if answer.dtype.kind not in "biuf":
                answer = answer.astype(str)
            write_frame(out, {"predictions": answer.tolist(), "dtype": answer.dtype.str})
        except Exception as e:  # the model's predict raises anything
            write_frame(out, {"error": _reason(e)})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
