"""What a store says about itself: its nodes (from consolidated metadata when
present, else from every zarr.json), and what really exists (one listing).

Node paths are absolute (`/`, `/measurements/reflectance/r10m/b02`).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from conformance.geozarr.store import StoreAccess, StoreUnavailable
from runner import bounded_json

V2_MARKERS = (".zgroup", ".zarray", ".zattrs", ".zmetadata")


def join(parent: str, name: str) -> str:
    """NAME (a node name or a relative path such as a multiscales asset; "." is PARENT itself)
    under PARENT, as a normalised absolute node path."""
    return posixpath.normpath("/" + posixpath.join(parent, name).strip("/"))


def key_of(node: str, name: str = "zarr.json") -> str:
    """The store key of NAME inside NODE (`/a/b` → `a/b/zarr.json`)."""
    node = node.strip("/")
    return f"{node}/{name}" if node else name


@dataclass
class StoreModel:
    """Nodes declared by the store's metadata and nodes found in the store."""

    access: StoreAccess
    root: dict[str, Any] | None
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    consolidated: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    real_nodes: set[str] = field(default_factory=set)
    chunk_counts: dict[str, int] = field(default_factory=dict)
    v2_keys: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    _children: tuple[int, dict[str, list[str]]] = field(default=(-1, {}), init=False, repr=False, compare=False)

    @property
    def has_consolidated(self) -> bool:
        return "/" in self.consolidated

    def attrs(self, path: str) -> dict[str, Any]:
        return (self.nodes.get(path) or {}).get("attributes") or {}

    def is_group(self, path: str) -> bool:
        return (self.nodes.get(path) or {}).get("node_type") == "group"

    def is_array(self, path: str) -> bool:
        return (self.nodes.get(path) or {}).get("node_type") == "array"

    def children(self, path: str) -> list[str]:
        """The nodes directly below PATH, sorted. The rules ask ~100 times per store: the nodes
        are indexed by parent once (again only if nodes were added since)."""
        if self._children[0] != len(self.nodes):
            index: dict[str, list[str]] = {}
            for p in sorted(self.nodes):
                index.setdefault(p[:p.rfind("/") + 1], []).append(p)
            self._children = (len(self.nodes), index)
        return [p for p in self._children[1].get(path.rstrip("/") + "/", []) if p != path]

    def groups(self) -> list[str]:
        return sorted(p for p, m in self.nodes.items() if m.get("node_type") == "group")

    def arrays(self) -> list[str]:
        return sorted(p for p, m in self.nodes.items() if m.get("node_type") == "array")

    def multiscale_groups(self) -> list[str]:
        return [g for g in self.groups() if "multiscales" in self.attrs(g)]


def _strip(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k != "consolidated_metadata"}


def consolidated_entries(group: str, meta: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """The flat consolidated map of a group's zarr.json as absolute node paths; None when absent.

    zarr-python writes the root's map flat (`a/b/c` keys) and leaves the nested
    groups' blocks inside it empty, so only a group's own zarr.json is authoritative.
    """
    cm = meta.get("consolidated_metadata")
    if not isinstance(cm, dict) or not isinstance(cm.get("metadata"), dict):
        return None
    return {join(group, rel): m for rel, m in cm["metadata"].items() if isinstance(m, dict)}


def _collect_consolidated(model: StoreModel, group: str, meta: dict[str, Any]) -> None:
    entries = consolidated_entries(group, meta)
    if entries is not None:
        model.consolidated[group] = entries


def load_model(access: StoreAccess) -> StoreModel:
    """Read the root metadata (consolidated when present) and list the store once.

    Raises StoreUnavailable when the location holds no Zarr store at all.
    """
    access.set_phase("metadata")
    try:
        root = access.read_json("zarr.json")
    except ValueError as exc:
        raise StoreUnavailable(f"{access.url}/zarr.json is not JSON: {exc}") from exc
    model = StoreModel(access=access, root=root if isinstance(root, dict) else None)
    _list_store(model, access, root)
    if model.root is not None:
        _collect_consolidated(model, "/", model.root)
    if model.has_consolidated:
        model.nodes["/"] = _strip(model.root or {})
        for entries in model.consolidated.values():
            for path, m in entries.items():
                model.nodes.setdefault(path, _strip(m))
    else:
        _read_every_node(model, access)
    model.chunk_counts = _chunk_counts(model)
    access.set_phase("metadata")
    return model


def _list_store(model: StoreModel, access: StoreAccess, root: Any) -> None:
    """List the store once: its keys, the nodes that really exist, Zarr v2 markers."""
    access.set_phase("list")
    model.keys = access.list_keys()
    if root is None and not model.keys:
        raise StoreUnavailable(f"{access.url}: empty or missing store (no zarr.json, no objects)")
    for k in model.keys:
        base = posixpath.basename(k)
        if base == "zarr.json":
            model.real_nodes.add("/" + posixpath.dirname(k) if posixpath.dirname(k) else "/")
        elif base in V2_MARKERS:
            model.v2_keys.append(k)
    if root is None and not model.real_nodes and not model.v2_keys:
        raise StoreUnavailable(f"{access.url}: no Zarr metadata found (not a Zarr store)")


def _read_every_node(model: StoreModel, access: StoreAccess) -> None:
    """No consolidated metadata: every zarr.json, one read per node."""
    access.set_phase("metadata")
    got = access.read_many([key_of(n) for n in sorted(model.real_nodes)])
    for key, data in got.items():
        node = "/" + posixpath.dirname(key) if posixpath.dirname(key) else "/"
        if data is None:
            continue
        try:
            meta = bounded_json.loads(data)
        except ValueError as exc:
            model.unreadable[node] = str(exc)
            continue
        if isinstance(meta, dict):
            model.nodes[node] = _strip(meta)
        else:
            model.unreadable[node] = f"not a JSON object but a {type(meta).__name__}"


def _chunk_counts(model: StoreModel) -> dict[str, int]:
    """Objects (chunks) under each array node."""
    arrays = {p for p in model.nodes if model.nodes[p].get("node_type") == "array"}
    counts: dict[str, int] = {a: 0 for a in arrays}
    for k in model.keys:
        if posixpath.basename(k) == "zarr.json":
            continue
        d = "/" + posixpath.dirname(k)
        while d not in counts and d not in ("/", ""):
            d = posixpath.dirname(d)
        if d in counts:
            counts[d] += 1
    return counts
