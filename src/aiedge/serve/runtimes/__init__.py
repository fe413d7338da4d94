"""Model runtimes: one module per library (ONNX Runtime, OpenVINO, LightGBM, scikit-learn), each
exposing a ``runtimes.base.Runtime`` as ``RUNTIME``; ``serve.loader`` picks one by format."""
