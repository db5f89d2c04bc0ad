"""`preflight`: read the input's hierarchy, check the requested groups, and say
which product this is and which conversion path eopf-geozarr will take.

Reads metadata only (consolidated metadata when the store has it). A missing
group is bad input (exit 2) with one line listing the available groups and
the closest matches.
"""

from __future__ import annotations

import difflib
import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import zarr
import zarr.errors
from zarr.core.group import GroupMetadata

from runner import storage
from runner.converter_import import import_converter
from runner.errors import BadInput, RunnerError, classify
from runner.products import S1_POLARISATION_GROUPS, is_sentinel1, polarisation, required_groups

PATH_S2 = "s2-optimized"
PATH_OLCI = "s3-olci-optimized"
PATH_S1 = "s1-grd"
PATH_GENERIC = "generic"
S1_POLARISATIONS = 2  # eopf-geozarr 0.12's S1 path asserts exactly two polarisation groups


@dataclass
class Preflight:
    source: str
    zarr_format: int
    consolidated: bool
    groups_available: list[str]
    arrays: int
    groups: list[str]
    product_type: str
    conversion_path: str
    notes: list[str] = field(default_factory=list)
    root_attributes: dict[str, Any] = field(default_factory=dict)
    # Sentinel-1: the top groups, one per polarisation (each converted with `groups` inside it)
    polarisation_groups: list[str] = field(default_factory=list)

    def outputs(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "zarr_format": self.zarr_format,
            "consolidated": self.consolidated,
            "product_type": self.product_type,
            "conversion_path": self.conversion_path,
            "groups": self.groups,
            "groups_available": len(self.groups_available),
            "arrays": self.arrays,
            "polarisation_groups": self.polarisation_groups,
            "notes": self.notes,
        }


def normalise_group(group: str) -> str:
    """'measurements/reflectance/r10m/' -> '/measurements/reflectance/r10m'."""
    g = group.strip()
    if not g or g == "/":
        return "/"
    return "/" + g.strip("/")


def open_source(uri: str) -> tuple[zarr.Group, bool]:
    """Open the input store read-only; consolidated metadata when present."""
    try:
        store = storage.zarr_store(uri, read_only=True)
    except RunnerError:
        raise
    except Exception as exc:
        raise classify(exc, what=f"open the input {uri}") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return zarr.open_consolidated(store, mode="r"), True
            except (ValueError, KeyError, TypeError, FileNotFoundError,
                    zarr.errors.GroupNotFoundError, zarr.errors.MetadataValidationError):
                return zarr.open_group(store, mode="r"), False
    except (FileNotFoundError, zarr.errors.GroupNotFoundError) as exc:
        raise BadInput(f"input {uri}: no Zarr group there (no .zgroup or zarr.json); "
                       f"is the path or URI right?") from exc
    except RunnerError:
        raise
    except Exception as exc:
        raise classify(exc, what=f"read the input {uri}") from exc


def _hierarchy(root: zarr.Group) -> tuple[list[str], int]:
    """The groups and the number of arrays. With consolidated metadata, from its documents:
    walking the members builds every array (codecs and all; 16 ms for a Sentinel-2 product)."""
    consolidated = root.metadata.consolidated_metadata
    if consolidated is not None:
        kinds = [(path, isinstance(meta, GroupMetadata))
                 for path, meta in consolidated.flattened_metadata.items()]
    else:
        kinds = [(path, isinstance(node, zarr.Group)) for path, node in root.members(max_depth=None)]
    groups = ["/"] + ["/" + path for path, group in kinds if group]
    return sorted(groups), sum(1 for _, group in kinds if not group)


def product_type(attrs: dict[str, Any]) -> str:
    """The product type from `stac_discovery.properties."product:type"` (e.g. S02MSIL2A)."""
    sd = attrs.get("stac_discovery")
    if isinstance(sd, dict):
        props = sd.get("properties") or {}
        for key in ("product:type", "eopf:type", "product_type"):
            value = props.get(key) if isinstance(props, dict) else None
            if value:
                return str(value)
    return "unknown"


@contextmanager
def zarr_version_looked_up_once() -> Iterator[None]:
    """pydantic-zarr's `ArraySpec.from_zarr` asks importlib.metadata for zarr's version once per
    array (~0.7 ms each: it scans sys.path; 0.1 s for a Sentinel-2 product's ~150 arrays).
    Within the block the first answer is reused: it cannot change inside a process."""
    import pydantic_zarr.v2 as pz

    original = pz.version
    pz.version = functools.cache(original)
    try:
        yield
    finally:
        pz.version = original


def _s2_detection(root: zarr.Group) -> tuple[bool, str]:
    """eopf-geozarr's own Sentinel-2 detection, with the reason when it says no."""
    import_converter()
    from eopf_geozarr.s2_optimization.s2_converter import is_sentinel2_dataset

    if root.metadata.zarr_format == 3:
        return bool(is_sentinel2_dataset(root)), "Zarr v3: root must hold exactly measurements, quality, conditions"
    from eopf_geozarr.data_api.s1 import Sentinel1Root
    from eopf_geozarr.data_api.s2 import Sentinel2Root
    from eopf_geozarr.pyz.v2 import GroupSpec
    from pydantic import TypeAdapter

    try:
        with zarr_version_looked_up_once():
            spec = GroupSpec.from_zarr(root)
        model = TypeAdapter(Sentinel1Root | Sentinel2Root).validate_python(spec.model_dump())
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        first = ""
        if callable(errors):
            s2 = [e for e in errors() if "Sentinel2Root" in str(e.get("loc", ("",))[0])] or errors()
            if s2:
                loc = "/".join(str(p) for p in s2[0].get("loc", ())[1:] if p != "members")
                first = f"{s2[0].get('msg', '')} at {loc or '/'}"
        return False, first or str(exc).splitlines()[0]
    return isinstance(model, Sentinel2Root), "validated against the Sentinel-2 model"


def _olci_detection(root: zarr.Group) -> bool:
    from eopf_geozarr.s3_olci_optimization.olci_converter import is_sentinel3_olci_dataset

    try:
        return bool(is_sentinel3_olci_dataset(root))
    except Exception:  # noqa: BLE001 - detection failing means "not OLCI", as in the converter
        return False


def _require_groups(uri: str, available: list[str], wanted: list[str], ptype: str) -> None:
    """Every requested group, and every group the product type must have, is in the input."""
    known = set(available)
    for g in wanted:
        if g not in known:
            close = difflib.get_close_matches(g, available, n=3, cutoff=0.5)
            shown = ", ".join(available[:40]) + (" ..." if len(available) > 40 else "")
            raise BadInput(
                f"group {g} not found in {uri}; closest: {', '.join(close) or 'none'}; "
                f"available groups: {shown}",
                group=g, closest=close,
            )
    missing = [g for g in required_groups(ptype) if g not in known]
    if missing:
        raise BadInput(f"input {uri}: product type {ptype} must have {', '.join(missing)} "
                       f"(a native resolution), which is missing: the product is incomplete",
                       product_type=ptype, missing=missing)


def s1_polarisation_groups(uri: str, root: zarr.Group, available: list[str], wanted: list[str],
                           gcp_group: str) -> list[str]:
    """The polarisation groups of a Sentinel-1 product (top groups, sorted), once each holds
    the WANTED groups, the GCP group and the native ones; BadInput otherwise."""
    pols = sorted("/" + name for name in root.group_keys())
    named = [g for g in pols if polarisation(g)]
    if named != pols or len(pols) != S1_POLARISATIONS:
        raise BadInput(f"input {uri}: a Sentinel-1 GRD product has one top group per polarisation "
                       f"and eopf-geozarr's S1 path needs exactly {S1_POLARISATIONS}; found "
                       f"{', '.join(pols) or 'none'}", polarisation_groups=pols)
    inside = list(dict.fromkeys([*wanted, normalise_group(gcp_group), *S1_POLARISATION_GROUPS]))
    known = set(available)
    for pol in pols:
        missing = [g for g in inside if pol + g not in known]
        if missing:
            close = difflib.get_close_matches(pol + missing[0], available, n=3, cutoff=0.5)
            raise BadInput(f"input {uri}: polarisation group {pol} has no {', '.join(missing)}; "
                           f"closest: {', '.join(close) or 'none'}", group=pol + missing[0],
                           closest=close)
    return pols


def _s1_note(wanted: list[str], pols: list[str], gcp_group: str) -> str:
    return (f"Sentinel-1 GRD: {', '.join(wanted)} of each polarisation group "
            f"({', '.join(p.lstrip('/') for p in pols)}) reprojected through "
            f"{normalise_group(gcp_group)} to EPSG:4326")


def run_preflight(source: str, groups: list[str], *, allow_generic: bool = False,
                  s1_groups: list[str] | None = None, s1_gcp_group: str = "/conditions/gcp") -> Preflight:
    """Detect the product and its conversion path. GROUPS are absolute paths of the product;
    for Sentinel-1 GRD, S1_GROUPS and S1_GCP_GROUP are paths inside each polarisation group."""
    uri = storage.normalise_uri(source)
    root, consolidated = open_source(uri)
    try:
        available, n_arrays = _hierarchy(root)
        attrs = dict(root.attrs)
    except RunnerError:
        raise
    except Exception as exc:
        raise classify(exc, what=f"read the input {uri}") from exc

    ptype = product_type(attrs)
    if is_sentinel1(ptype):
        wanted = [normalise_group(g) for g in (s1_groups or list(S1_POLARISATION_GROUPS[:1]))]
        pols = s1_polarisation_groups(uri, root, available, wanted, s1_gcp_group)
        return Preflight(
            source=uri, zarr_format=int(root.metadata.zarr_format), consolidated=consolidated,
            groups_available=available, arrays=n_arrays, groups=wanted, product_type=ptype,
            conversion_path=PATH_S1, root_attributes=attrs, polarisation_groups=pols,
            notes=[_s1_note(wanted, pols, s1_gcp_group)])
    wanted = [normalise_group(g) for g in groups]
    _require_groups(uri, available, wanted, ptype)
    notes: list[str] = []
    try:
        is_s2, why = _s2_detection(root)
    except Exception as exc:
        raise classify(exc, what=f"inspect the input {uri}") from exc
    if is_s2:
        path = PATH_S2
        notes.append("Sentinel-2 detected: the S2-optimised path converts the whole product "
                     "(measurements/reflectance pyramid r10m..r720m); --groups only select what "
                     "preflight checks")
        if "L2A" not in ptype:
            notes.append(f"product:type {ptype!r} has no L2A: the converter's L1C behaviour applies")
    elif _olci_detection(root):
        path = PATH_OLCI
    else:
        path = PATH_GENERIC
        if ptype.startswith("S02") or ptype.upper().startswith("S2"):
            msg = (f"input {uri} says product:type {ptype} but eopf-geozarr's Sentinel-2 detection "
                   f"rejects it ({why}): it would silently take the generic path")
            if not allow_generic:
                raise BadInput(msg + "; fix the input or pass --allow-generic", product_type=ptype)
            notes.append(msg)
        if not wanted:
            raise BadInput(f"input {uri}: the generic conversion path needs --groups "
                           f"(available groups: {', '.join(available[:20])})")
    return Preflight(source=uri, zarr_format=int(root.metadata.zarr_format), consolidated=consolidated,
                     groups_available=available, arrays=n_arrays, groups=wanted, product_type=ptype,
                     conversion_path=path, notes=notes, root_attributes=attrs)
