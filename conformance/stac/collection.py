"""An env's STAC collection document (`overlays/<env>/collection.json`), checked offline
against the vendored STAC collection schema and every extension it declares."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conformance.findings import Finding, Rule, Severity
from conformance.stac.rules import StacContext, _validate
from conformance.stac.schemas import SchemaStore

COLLECTION = Rule("stac.collection", Severity.ERROR,
                  "the env's collection.json is a STAC collection valid against the collection schema and "
                  "its extensions, with the env's collection id")


def collection_uri(doc: dict[str, Any]) -> str:
    version = doc.get("stac_version") or "1.1.0"
    return f"https://schemas.stacspec.org/v{version}/collection-spec/json-schema/collection.json"


def check_collection_doc(doc: Any, *, expected_id: str = "") -> Iterator[Finding]:
    """Findings (JSON paths inside the document) for one collection document."""
    if not isinstance(doc, dict) or doc.get("type") != "Collection":
        yield COLLECTION.finding("not a STAC collection (expected \"type\": \"Collection\")", "type")
        return
    if expected_id and doc.get("id") != expected_id:
        yield COLLECTION.finding(f"id {doc.get('id')!r} but the env's collection parameter is {expected_id!r}", "id")
    ctx = StacContext(item=doc, schemas=SchemaStore(cache_dir=Path("/nonexistent"), offline=True))
    yield from _validate(ctx, collection_uri(doc), COLLECTION, f"STAC {doc.get('stac_version')} collection")
    for uri in doc.get("stac_extensions") or []:
        if isinstance(uri, str):
            yield from _validate(ctx, uri, COLLECTION, uri)
    for uri, why in ctx.cache.get("unavailable", []):
        yield COLLECTION.finding(f"not validated: {why}", uri)


def check_collection_file(path: Path, *, expected_id: str = "") -> list[Finding]:
    """check_collection_doc on the file at PATH; a missing or unreadable file is one finding."""
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        return [COLLECTION.finding(f"cannot read the collection document: {exc.strerror or exc}", "$")]
    except json.JSONDecodeError as exc:
        return [COLLECTION.finding(f"not JSON: {exc.msg} at line {exc.lineno}", "$")]
    return list(check_collection_doc(doc, expected_id=expected_id))
