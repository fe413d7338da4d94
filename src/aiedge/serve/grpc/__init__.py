"""The Open Inference Protocol over gRPC: a thin transport over the same data plane as REST."""
