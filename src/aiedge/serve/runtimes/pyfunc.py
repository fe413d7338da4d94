"""MLflow pyfunc models (an ``MLmodel`` whose only flavour aiedge knows is ``python_function``): the
model is code, so it runs in its own environment, in a host process, never in the server's.

The environment is the folder ``.pyfunc-env`` beside the ``MLmodel``: ``site-packages`` with the
model's pinned requirements, and ``python.txt``, the ``X.Y`` of the Python they were installed for
(``aiedge build`` makes it; see ``builder/pyfunc.py``). The host (``serve/pyfunc_host.py``) runs
with the server's own interpreter in isolated mode, with only that ``site-packages`` on its path,
and answers over pipes; this module is the one data plane's view of it: a tabular
:class:`LoadedModel` whose ``predict`` is one round trip. Loading is refused without the pickle
opt-in (``LoadOptions.allow_pickle``) before anything of the model is read but its MLmodel.
"""

from __future__ import annotations

import json
import logging
import select
import struct
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path
from typing import IO, Any

import numpy as np

from aiedge.serve.errors import CodeRefused, InferenceError, ModelLoadError, ModelNotReady
from aiedge.serve.mlmodel import PYFUNC, read_mlmodel
from aiedge.serve.runtimes.base import Array, LoadedModel, LoadOptions, ModelSignature, Runtime
from aiedge.serve.runtimes.tabular import OUTPUT_NAME, tabular_signature

ENV_DIR = ".pyfunc-env"
SITE_DIR = "site-packages"
PYTHON_FILE = "python.txt"
LOAD_TIMEOUT = 300.0  # importing mlflow and pandas on a busy edge box takes a while
PREDICT_TIMEOUT = 120.0
MAX_FRAME = 256 << 20
_KINDS = frozenset("biufU")
log = logging.getLogger("aiedge.serve")


def python_tag() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def environment(model_dir: Path) -> Path:
    """The model's ``site-packages``, checked to be there and made for this interpreter."""
    env = model_dir / ENV_DIR
    site = env / SITE_DIR
    if not site.is_dir():
        raise ModelLoadError(
            f"{model_dir}: an MLflow pyfunc model runs in its own environment ({env}), and there is "
            "none; `aiedge build --base IMAGE --allow-pickle` installs the model's requirements there"
        )
    try:
        made_for = (env / PYTHON_FILE).read_text()[:16].strip()
    except OSError as e:
        raise ModelLoadError(f"{env / PYTHON_FILE}: cannot read it: {e}") from e
    if made_for != python_tag():
        raise ModelLoadError(
            f"{env}: made for Python {made_for}; this server runs Python {python_tag()} (build it again)"
        )
    return site


class _Pipe:
    """Length-prefixed JSON frames to and from the host, each read bounded in time."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self._in: IO[bytes] = proc.stdin
        self._out: IO[bytes] = proc.stdout

    def send(self, doc: Any) -> None:
        data = json.dumps(doc, allow_nan=False).encode()
        self._in.write(struct.pack(">I", len(data)) + data)
        self._in.flush()

    def receive(self, timeout: float) -> Any:
        header = self._read(4, time.monotonic() + timeout)
        (size,) = struct.unpack(">I", header)
        if size > MAX_FRAME:
            raise ModelLoadError(f"the pyfunc host sent a frame of {size} bytes")
        return json.loads(self._read(size, time.monotonic() + timeout))

    def _read(self, n: int, deadline: float) -> bytes:
        fd = self._out.fileno()
        chunks: list[bytes] = []
        got = 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("the pyfunc host did not answer in time")
            chunk = self._out.read1(n - got)  # type: ignore[attr-defined]
            if not chunk:
                raise EOFError("the pyfunc host exited")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)


class PyfuncModel(LoadedModel):
    """One pyfunc model in its host process; one request at a time (the host is single-threaded)."""

    def __init__(self, path: Path, options: LoadOptions) -> None:
        if not options.allow_pickle:
            raise CodeRefused(path)
        self._site = environment(path)
        columns = read_mlmodel(path).columns
        self._path = path
        self._lock = threading.Lock()
        self._start()
        n = len(columns) if columns else -1
        self._signature = tabular_signature(n, (-1,), PYFUNC, columns)

    def _start(self) -> None:
        host = resources.files("aiedge.serve").joinpath("pyfunc_host.py")
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(host), str(self._path), str(self._site)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._pipe = _Pipe(self._proc)
        try:
            hello = self._pipe.receive(LOAD_TIMEOUT)
        except (OSError, EOFError, ValueError) as e:
            self.close()
            raise ModelLoadError(f"{self._path}: the pyfunc host: {e}") from e
        if not isinstance(hello, dict) or hello.get("ready") is not True:
            self.close()
            error = hello.get("error") if isinstance(hello, dict) else hello
            raise ModelLoadError(f"{self._path}: {error}")

    @property
    def signature(self) -> ModelSignature:
        return self._signature

    def predict(self, inputs: dict[str, Array]) -> dict[str, Array]:
        (x,) = inputs.values()
        request = {"columns": list(self._signature.columns) or None, "data": np.asarray(x).tolist()}
        with self._lock:
            if self._proc.poll() is not None:
                log.warning(
                    "%s: the pyfunc host exited (%s); starting it again", self._path, self._proc.returncode
                )
                self.close()
                try:
                    self._start()
                except ModelLoadError as e:
                    raise ModelNotReady(str(e)) from e
            try:
                self._pipe.send(request)
                answer = self._pipe.receive(PREDICT_TIMEOUT)
            except (OSError, EOFError, ValueError) as e:
                self.close()  # a host that hangs or died mid-request is not asked again
                raise ModelNotReady(
                    f"{self._path}: the pyfunc host: {e}; it starts again on the next request"
                ) from e
        if not isinstance(answer, dict) or "predictions" not in answer:
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise InferenceError(f"the model's predict failed: {error}")
        dtype = np.dtype(str(answer.get("dtype", "<f8")))
        if dtype.kind not in _KINDS:
            raise InferenceError(f"the pyfunc host answered in dtype {dtype}")
        result = np.asarray(answer["predictions"], dtype=dtype)
        return {OUTPUT_NAME: result.astype(object) if dtype.kind == "U" else result}

    def close(self) -> None:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.close()  # the host exits at the end of its input
            self._proc.wait(timeout=10)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        finally:
            self._proc.stdout.close()


class PyfuncRuntime(Runtime):
    name = "mlflow-pyfunc"
    formats = (PYFUNC,)

    def can_load(self, path: Path) -> bool:
        from aiedge.serve import formats

        return formats.is_format(path, self.formats)

    def load(self, path: Path, options: LoadOptions | None = None) -> PyfuncModel:
        return PyfuncModel(path, options or LoadOptions())


RUNTIME = PyfuncRuntime()
