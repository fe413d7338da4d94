"""Errors of the serving side. Domain errors only: each transport maps them to its own status codes
(see ``serve/rest/errors.py``)."""

from __future__ import annotations

from aiedge.errors import AiedgeError


class ServeError(AiedgeError):
    """Base of serve's errors."""


class UnknownModelFormat(ServeError):
    """No runtime recognises what is at a path."""


class ModelLoadError(ServeError):
    """A model's files are there but its runtime could not load them."""


class MissingRuntime(ModelLoadError):
    """The model's runtime is an optional extra that is not installed."""


class PickleRefused(ModelLoadError):
    """A pickled model (scikit-learn joblib/pkl) without the opt-in: unpickling runs any code the
    file holds, so it is refused before the file is opened."""

    def __init__(self, path: object) -> None:
        super().__init__(
            f"{path}: a pickled scikit-learn model; loading a pickle runs any code it holds, so it is "
            "refused. Trust the file? Serve it with --allow-pickle (AIEDGE_SERVE_ALLOW_PICKLE=true), or "
            "build it with `aiedge build --allow-pickle`: the image then holds an ONNX export and sites "
            "never unpickle"
        )


class CodeRefused(PickleRefused):
    """An MLflow pyfunc model without the opt-in: its ``python_model`` is a cloudpickle and its
    ``loader_module`` is code, so it is refused before its environment is started."""

    def __init__(self, path: object) -> None:
        ModelLoadError.__init__(
            self,
            f"{path}: an MLflow pyfunc model is code (a cloudpickled python_model or a loader_module), "
            "so it is refused. Trust it? Serve it with --allow-pickle (AIEDGE_SERVE_ALLOW_PICKLE=true); "
            "build it with `aiedge build --base IMAGE --allow-pickle`",
        )


class BadSettings(ServeError):
    """A setting (an ``AIEDGE_SERVE_*`` variable) has a value the server cannot run with."""


class CannotListen(ServeError):
    """A port is taken, out of range, or the address is not this machine's."""


class ModelNotFound(ServeError):
    """No model (or no such version of it) is served under that name."""


class ModelNotReady(ServeError):
    """The model exists but is not loaded (still loading, or failed with a reason)."""


class BadRequest(ServeError):
    """The request does not fit the protocol or the model's signature; the message names the field."""


class InferenceError(ServeError):
    """The runtime failed on a request that passed validation."""


class Overloaded(ServeError):
    """A model's queue is full; the client should retry shortly."""


class TooLarge(ServeError):
    """A request is bigger than a configured limit (body bytes, tensor elements); the message names
    the limit and the setting that raises it."""
