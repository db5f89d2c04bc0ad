"""The item's links that come from the env, not from the store.

- `derived_from` the source product's STAC item: the `source_item_url` template;
- `xyz`, `tilejson`, `viewer`: the tiler's and viewer's URL templates (`xyz_url`,
  `tilejson_url`, `viewer_url`); each link is absent while its template is unset;
- `license` and `cite-as`: copied from the env's collection document
  (`overlays/<env>/collection.json`, in the pods as `$GEOZARR_PARAMS_DIR/collection.json`);
  `cite-as` falls back to the collection's (then the item's) `sci:doi`.

Templates name `{collection}`, `{item_id}` and `{source_id}` (the source product's id
without `.SAFE`); values are URL-quoted. Any other placeholder is a configuration error.
"""

from __future__ import annotations

import json
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pystac

from runner import params
from runner.errors import BadInput

EXT_WEB_MAP_LINKS = "https://stac-extensions.github.io/web-map-links/v1.2.0/schema.json"
PLACEHOLDERS = ("collection", "item_id", "source_id")
TILE_PLACEHOLDERS = ("z", "x", "y")  # kept as they are: the tiler's client fills them in
COLLECTION_FILE = "collection.json"
# rel -> (template param, media type, title)
TEMPLATE_LINKS: dict[str, tuple[str, str, str]] = {
    "xyz": ("xyz_url", "image/png", "XYZ tiles"),
    "tilejson": ("tilejson_url", "application/json", "TileJSON"),
    "viewer": ("viewer_url", "text/html", "Viewer"),
}


@dataclass(frozen=True)
class ItemLinks:
    """What the env says about the item's outside links (all optional)."""

    source_item_url: str = ""
    templates: dict[str, str] = field(default_factory=dict)  # rel -> URL template
    collection_doc: dict[str, Any] = field(default_factory=dict)


def expand(template: str, *, key: str, values: dict[str, str]) -> str:
    """TEMPLATE with its placeholders replaced by the URL-quoted values."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise BadInput(f"parameter {key}: {template!r} is not a URL template: {exc}") from exc
    unknown = sorted(names - set(PLACEHOLDERS) - set(TILE_PLACEHOLDERS))
    if unknown:
        raise BadInput(f"parameter {key}: unknown placeholder(s) {unknown} in {template!r} "
                       f"(allowed: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
    return template.format_map({**{k: quote(v, safe="") for k, v in values.items()},
                                **{t: "{" + t + "}" for t in TILE_PLACEHOLDERS}})


def read_collection_doc(path: str | None = None) -> dict[str, Any]:
    """The env's collection document: PATH, else $GEOZARR_PARAMS_DIR/collection.json; {} if none."""
    if not path:
        directory = os.environ.get("GEOZARR_PARAMS_DIR", "")
        candidate = Path(directory) / COLLECTION_FILE if directory else None
        if candidate is None or not candidate.is_file():
            return {}
        path = str(candidate)
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path}: not a readable collection JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "Collection":
        raise BadInput(f"{path}: not a STAC collection (expected \"type\": \"Collection\")")
    return doc


def from_params(flags: dict[str, object], collection_json: str | None = None) -> ItemLinks:
    """ItemLinks from the pipeline parameters (flags > env > params dir) and the collection file."""
    templates = {rel: str(params.resolve(key, flags.get(key)) or "")
                 for rel, (key, _, _) in TEMPLATE_LINKS.items()}
    return ItemLinks(source_item_url=str(params.resolve("source_item_url", flags.get("source_item_url")) or ""),
                     templates={rel: t for rel, t in templates.items() if t},
                     collection_doc=read_collection_doc(collection_json))


def _collection_links(item: pystac.Item, doc: dict[str, Any]) -> None:
    by_rel = {link.get("rel"): link for link in doc.get("links") or [] if isinstance(link, dict)}
    for rel in ("license", "cite-as"):
        link = by_rel.get(rel)
        if isinstance(link, dict) and isinstance(link.get("href"), str):
            item.add_link(pystac.Link(rel=rel, target=link["href"], media_type=link.get("type"),
                                      title=link.get("title")))
    doi = doc.get("sci:doi") or item.properties.get("sci:doi")
    if "cite-as" not in by_rel and isinstance(doi, str) and doi:
        item.add_link(pystac.Link(rel="cite-as", target=f"https://doi.org/{doi}"))


def add_links(item: pystac.Item, links: ItemLinks, *, source_id: str) -> None:
    """Add the env's links to ITEM (and the web-map-links extension when it has any)."""
    values = {"collection": item.collection_id or "", "item_id": item.id, "source_id": source_id}
    if links.source_item_url and source_id:
        item.add_link(pystac.Link(rel="derived_from", media_type="application/json",
                                  target=expand(links.source_item_url, key="source_item_url", values=values),
                                  title=f"Source product's STAC item ({source_id})"))
    for rel, template in sorted(links.templates.items()):
        key, media_type, title = TEMPLATE_LINKS[rel]
        item.add_link(pystac.Link(rel=rel, target=expand(template, key=key, values=values),
                                  media_type=media_type, title=f"{title} for {item.id}"))
    if {"xyz", "tilejson"} & set(links.templates):
        item.stac_extensions.append(EXT_WEB_MAP_LINKS)
    _collection_links(item, links.collection_doc)
