"""Fixtures of the manifest tests (the helpers are in manifestkit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.manifests.manifestkit import FIXTURES, load_docs, render_dir


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def docs_of():
    """`docs_of("policy/valid.yaml")`: a fixture file's documents."""
    return lambda rel: load_docs(FIXTURES / rel)


@pytest.fixture(scope="session")
def rendered_of():
    """`rendered_of("preservation/overlay-smp")`: a fixture kustomization rendered for real."""
    return lambda rel, name="test": render_dir(FIXTURES / rel, name)
