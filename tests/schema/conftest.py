"""Shared helpers for the schema engine's tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.findings import Finding
from tooling.schema import check_documents
from tooling.schema.documents import read_documents

FIXTURES = Path(__file__).parent / "fixtures"


def _check_file(path: Path, standalone: bool = False) -> list[Finding]:
    docs, found = read_documents(path, path.name)
    schema_findings, _ = check_documents(docs, "1.32", standalone=standalone)
    return found + schema_findings


@pytest.fixture
def check_file() -> Callable[..., list[Finding]]:
    """YAML findings plus schema/lint findings of one fixture file, as `invoke validate` sees them."""
    return _check_file


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
