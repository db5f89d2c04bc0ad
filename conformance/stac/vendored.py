"""The STAC core and extension schemas this project emits or accepts, vendored in the
package (`conformance/stac/vendored/`, licences in its LICENSES.md): validation is complete
offline, in the image and in CI, with no cache to fill.

`index.json` there maps each official schema URI to its file. A URI is looked up with and
without a trailing `#` (several extension schemas declare their `$id` with one)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

VENDORED_DIR = Path(__file__).parent / "vendored"


@lru_cache(maxsize=1)
def index() -> dict[str, str]:
    """Official URI -> file path relative to VENDORED_DIR."""
    return json.loads((VENDORED_DIR / "index.json").read_text())


def path_for(uri: str) -> Path | None:
    """The vendored file of the schema at URI, or None when it is not vendored."""
    rel = index().get(uri.split("#", 1)[0])
    return VENDORED_DIR / rel if rel is not None else None


def extension_uris() -> list[str]:
    """Every vendored STAC extension schema URI (what an item may declare and we validate)."""
    return sorted(u for u in index() if u.startswith(("https://stac-extensions.github.io/",
                                                       "https://cs-si.github.io/")) and
                  u.endswith("/schema.json"))
