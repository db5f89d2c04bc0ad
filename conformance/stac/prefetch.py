"""Fill a STAC schema cache ahead of time, for a place with no network at check time.

The pipeline's image is built where the network is reachable and runs where it is
not (the NetworkPolicy allows DNS, the object store and the STAC API only): its
build runs `python -m conformance.stac.prefetch DIR`, which caches the extension
schemas the pipeline's items declare, and every schema they `$ref`, into DIR; the
image sets GEOZARR_STAC_SCHEMA_CACHE=DIR so `check-stac --offline` validates them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

from conformance.stac.schemas import SchemaStore, SchemaUnavailable, default_cache_dir


def pipeline_extensions() -> list[str]:
    """The extension schema URIs the runner's items declare."""
    from runner import stac_item

    return sorted({v for k, v in vars(stac_item).items() if k.startswith("EXT_") and isinstance(v, str)})


def _refs(node: Any, base: str) -> Iterable[str]:
    """Absolute http(s) URIs of every `$ref` in a schema (fragments dropped)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            uri = urldefrag(urljoin(base, ref)).url
            if uri.startswith(("http://", "https://")):
                yield uri
        for value in node.values():
            yield from _refs(value, base)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value, base)


def prefetch(store: SchemaStore, uris: Iterable[str]) -> list[str]:
    """Load URIS and everything they reference into STORE's cache; the URIs loaded."""
    todo, done = list(uris), []
    while todo:
        uri = todo.pop()
        if uri in done:
            continue
        schema = store.get(uri)
        done.append(uri)
        todo.extend(u for u in _refs(schema, uri) if u not in done)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.stac.prefetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("cache_dir", type=Path, nargs="?", default=None,
                        help="the cache directory to fill (default: $GEOZARR_STAC_SCHEMA_CACHE or the user cache)")
    parser.add_argument("uris", nargs="*", help="schema URIs (default: the pipeline's item extensions)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per download")
    args = parser.parse_args(argv)
    args.cache_dir = args.cache_dir or default_cache_dir()
    store = SchemaStore(cache_dir=args.cache_dir, offline=False, fetch_timeout=args.timeout)
    try:
        done = prefetch(store, args.uris or pipeline_extensions())
    except SchemaUnavailable as e:
        print(f"prefetch: {e}", file=sys.stderr)
        return 2
    print(f"prefetch: {len(done)} schema(s) in {args.cache_dir} ({len(store.fetched)} downloaded)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
