"""The vendored schemas: complete (every extension the runner can emit), indexed, licensed,
and the ones used offline (no cache, no network)."""

from __future__ import annotations

import json

from conformance.stac import vendored
from conformance.stac.schemas import SchemaStore
from runner import stac_item, stac_links, stac_source


def _runner_extensions() -> set[str]:
    return {v for module in (stac_item, stac_source, stac_links) for k, v in vars(module).items()
            if k.startswith("EXT_") and isinstance(v, str)}


def test_every_extension_the_runner_emits_is_vendored() -> None:
    missing = sorted(u for u in _runner_extensions() if vendored.path_for(u) is None)
    assert missing == []
    assert len(_runner_extensions()) >= 13


def test_the_index_and_the_files_agree() -> None:
    files = {p.relative_to(vendored.VENDORED_DIR).as_posix() for p in vendored.VENDORED_DIR.rglob("*.json")}
    indexed = set(vendored.index().values())
    assert indexed <= files
    assert files - indexed == {"index.json"}
    for rel in indexed:
        json.loads((vendored.VENDORED_DIR / rel).read_text())


def test_every_vendored_directory_has_its_licence_named() -> None:
    licences = (vendored.VENDORED_DIR / "LICENSES.md").read_text()
    for top in sorted({rel.split("/", 1)[0] for rel in vendored.index().values()}):
        assert f"`{top}/`" in licences, top


def test_an_offline_store_without_cache_resolves_every_vendored_uri(tmp_path) -> None:
    store = SchemaStore(cache_dir=tmp_path / "empty", offline=True)
    for uri in vendored.index():
        assert isinstance(store.get(uri), dict), uri
    assert vendored.path_for("https://stac-extensions.github.io/mgrs/v1.0.0/schema.json#") is not None
