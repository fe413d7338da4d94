"""Packaging models: fetch, check, pack into an OCI image, smoke-test, push, record in GitOps."""
