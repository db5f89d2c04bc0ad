"""Offline schema engine: YAML sanity, strict Kubernetes / Argo / CRD schemas and
Argo's semantic lint, all returning `Finding`s.

    from tooling.schema import check_documents
    from tooling.schema.documents import load_documents
"""

from __future__ import annotations

from tooling.schema.check import check_documents
from tooling.schema.documents import Document, check_yaml_file, load_documents

__all__ = ["Document", "check_documents", "check_yaml_file", "load_documents"]
