"""geozarr.multiscales-geometry on metadata alone (fast): the real converter's layouts
at odd sizes (fixtures/multiscales/), the zarr-conventions reference examples, and
planted variations. Each case: the (path, message fragments) of every finding expected."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.geozarr.context import GeoZarrContext
from conformance.geozarr.model import StoreModel
from conformance.geozarr.multiscales import check_geometry
from tooling.repo import SHARED

FIXTURES = Path(__file__).parent / "fixtures" / "multiscales"
EXAMPLES = SHARED / "reference" / "conventions" / "zcm_multiscales_examples"
R = "/measurements/reflectance"

Nodes = dict[str, dict[str, Any]]


def _fixture(name: str) -> Nodes:
    return json.loads((FIXTURES / name).read_text())["nodes"]


def _example(name: str) -> Nodes:
    return {"/": json.loads((EXAMPLES / name).read_text())}


def _findings(nodes: Nodes) -> list[tuple[str, str]]:
    model = StoreModel(access=None, root=nodes.get("/"), nodes=nodes)  # type: ignore[arg-type]
    ctx = GeoZarrContext(access=None, model=model)  # type: ignore[arg-type]
    return [(f.path, f.message) for f in check_geometry(ctx)]


def _entry(nodes: Nodes, asset: str) -> dict[str, Any]:
    return next(e for e in nodes[R]["attributes"]["multiscales"]["layout"] if e["asset"] == asset)


def _set(nodes: Nodes, asset: str, key: str, fn: Callable[[Any], Any]) -> None:
    """Change KEY of a level in its layout entry and its group alike (one consistent defect)."""
    entry, group = _entry(nodes, asset), nodes[f"{R}/{asset}"]["attributes"]
    entry[key] = fn(entry[key])
    group[key] = fn(group[key])


def _raw_scales(nodes: Nodes) -> None:
    """What eopf-geozarr 0.12 writes: the shape ratio as transform.scale."""
    for e in nodes[R]["attributes"]["multiscales"]["layout"]:
        if "derived_from" in e:
            p = _entry(nodes, e["derived_from"])
            e["transform"]["scale"] = [p["spatial:shape"][0] / e["spatial:shape"][0]] * 2


def _shape_90(nodes: Nodes) -> None:
    _set(nodes, "r120m", "spatial:shape", lambda s: [90, 91])


def _origin_shifted(nodes: Nodes) -> None:
    _set(nodes, "r120m", "spatial:transform", lambda t: [t[0], t[1], t[2] + 60.0, t[3], t[4], t[5]])


def _translated(shift: float) -> Callable[[Nodes], None]:
    def plant(nodes: Nodes) -> None:
        _entry(nodes, "r120m")["transform"]["translation"] = [0.5, 0.5]
        _set(nodes, "r120m", "spatial:transform", lambda t: [t[0], t[1], t[2] + shift, t[3], t[4], t[5] - shift])
        # r360m derives from r120m: keep it on the shifted grid's origin reading (translation 0)
        _set(nodes, "r360m", "spatial:transform", lambda t: [t[0], t[1], t[2] + shift, t[3], t[4], t[5] - shift])
        _set(nodes, "r720m", "spatial:transform", lambda t: [t[0], t[1], t[2] + shift, t[3], t[4], t[5] - shift])
    return plant


def _entry_only(nodes: Nodes) -> None:
    _entry(nodes, "r360m")["spatial:shape"] = [31, 30]


def _nothing(nodes: Nodes) -> None:
    pass


CASES: list[tuple[str, Callable[[], Nodes], Callable[[Nodes], None], list[tuple[str, list[str]]]]] = [
    # 183 -> 91 (floor), 91 -> 30 (floor), 30 -> 15 with scale = pixel-size ratio: passes
    ("odd sizes, floor levels", lambda: _fixture("odd-size-1098.json"), _nothing, []),
    ("10980 tile as converted: r720m scale 305/152", lambda: _fixture("scale-mismatch-10980.json"), _nothing,
     [(f"{R}/r720m", ["transform.scale [2.0065789473684212, 2.0065789473684212]", "pixel-size ratio [2.0, 2.0]",
                      "r720m layout spatial:transform pixel [720.0, 720.0]", "r360m",
                      "pixel [360.0, 360.0]"])]),
    ("1098 sample as converted: shape-ratio scales", lambda: _fixture("odd-size-1098.json"), _raw_scales,
     [(f"{R}/r120m", ["transform.scale [2.010989010989011, 2.010989010989011]", "ratio [2.0, 2.0]"]),
      (f"{R}/r360m", ["transform.scale [3.033333333333333, 3.033333333333333]", "ratio [3.0, 3.0]"])]),
    ("r120m 90 rows from 183 / 2", lambda: _fixture("odd-size-1098.json"), _shape_90,
     # r360m's 30 x 30 is still floor(90 / 3) x floor(91 / 3): the defect is r120m's only
     [(f"{R}/r120m", ["spatial:shape [90, 91]", "r60m's [183, 183]", "expected 91 or 92 x 91 or 92"])]),
    ("r120m origin off by half a pixel", lambda: _fixture("odd-size-1098.json"), _origin_shifted,
     [(f"{R}/r120m", ["origin (700020.0, 4700040.0)", "expected (699960.0, 4700040.0)"]),
      (f"{R}/r360m", ["origin (699960.0, 4700040.0)", "expected (700020.0, 4700040.0)"])]),
    ("translation 0.5 in derived_from pixels", lambda: _fixture("odd-size-1098.json"), _translated(30.0), []),
    ("translation 0.5 in level pixels", lambda: _fixture("odd-size-1098.json"), _translated(60.0), []),
    ("layout entry disagrees with its group", lambda: _fixture("odd-size-1098.json"), _entry_only,
     [(f"{R}/r360m", ["layout says shape [31, 30], the level group's spatial:shape is [30, 30]"])]),
    # reference examples of the convention: 305 -> 153 (ceil) passes
    ("reference sentinel-2 (ceil levels)", lambda: _example("sentinel-2-multiresolution.json"), _nothing, []),
    ("reference geospatial pyramid", lambda: _example("geospatial-pyramid.json"), _nothing, []),
    # the DEM example rounds its transforms to 9 decimals (within SCALE_RTOL) but writes 0.333 for 1/3
    ("reference DEM: 0.333 is not 1/3", lambda: _example("dem-multiresolution.json"), _nothing,
     [("/dem_10m_superres", ["transform.scale [0.333, 0.333]", "ratio [0.3333"])]),
]


@pytest.mark.parametrize(("name", "load", "plant", "expected"), CASES, ids=[c[0] for c in CASES])
def test_geometry(name: str, load: Callable[[], Nodes], plant: Callable[[Nodes], None],
                  expected: list[tuple[str, list[str]]]) -> None:
    nodes = copy.deepcopy(load())
    plant(nodes)
    found = _findings(nodes)
    assert [p for p, _ in found] == [p for p, _ in expected], found
    for (_, message), (_, fragments) in zip(found, expected):
        for fragment in fragments:
            assert fragment in message, (fragment, message)
