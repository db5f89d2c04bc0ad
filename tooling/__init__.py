"""Workstation and CI tooling for this repository: render, validate, lint, diff, promote, seal,
the local DAG executor and cluster submit.

Installed in a checkout by the default `uv sync`; never in the pipeline's image (`runner/`
and `conformance/` are what the image carries, and they never import this package).
"""
