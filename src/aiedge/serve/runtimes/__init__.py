"""Model runtimes: one module per library (ONNX Runtime, OpenVINO), all behind ``runtimes.base``."""
