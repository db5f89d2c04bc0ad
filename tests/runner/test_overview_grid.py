"""runner/overview_grid.py: the derived levels of eopf-geozarr's generic path (S1 r2, r4, ...)
get the grid their block averages have (parent origin, whole parent pixels)."""

from __future__ import annotations

import copy
from typing import Any

from runner import overview_grid
from runner.repair import apply

BASE = [0.0001, 0.0, -2.55, 0.0, -0.0001, 38.08]
# what the converter writes for r2 of a 161 x 275 base: from_bounds(native bbox, 137, 80)
STRETCHED = [275 * 0.0001 / 137, 0.0, -2.55, 0.0, -161 * 0.0001 / 80, 38.08]


def _docs(r2_transform: list[float]) -> dict[str, dict[str, Any]]:
    layout = [{"asset": ".", "spatial:shape": [161, 275], "spatial:transform": BASE},
              {"asset": "r2", "derived_from": ".", "transform": {"scale": [2.0, 2.0]},
               "spatial:shape": [80, 137], "spatial:transform": r2_transform}]
    return {
        "m/zarr.json": {"node_type": "group", "attributes": {"multiscales": {"layout": layout}}},
        "m/grd/zarr.json": {"node_type": "array", "attributes": {}},
        "m/r2/zarr.json": {"node_type": "group", "attributes": {"spatial:transform": r2_transform,
                                                                "spatial:bbox": [0, 0, 1, 1]}},
        "m/r2/grd/zarr.json": {"node_type": "array", "attributes": {}},
        "m/r2/x/zarr.json": {"node_type": "array", "attributes": {}},
    }


def test_the_stretched_level_gets_whole_parent_pixels() -> None:
    docs = _docs(STRETCHED)
    repairs = overview_grid.plan(docs)
    want = [0.0002, 0.0, -2.55, 0.0, -0.0002, 38.08]
    assert {(r.path, r.field) for r in repairs} == {
        ("/m", "multiscales.layout[1].spatial:transform"), ("/m/r2", "spatial:transform"),
        ("/m/r2", "spatial:bbox")}
    apply(docs, repairs)
    assert docs["m/r2/zarr.json"]["attributes"]["spatial:transform"] == want
    assert docs["m/r2/zarr.json"]["attributes"]["spatial:bbox"] == [-2.55, 38.08 - 0.016, -2.55 + 0.0274,
                                                                    38.08]
    assert overview_grid.plan(docs) == []  # idempotent
    [job] = overview_grid.resample_jobs(docs)  # data from the base, NaN-aware, 2 x 2 blocks
    assert (job.target, job.source, job.factor) == ("m/r2/grd", "m/grd", (2, 2))


def test_a_level_already_right_is_left_alone() -> None:
    docs = _docs([0.0002, 0.0, -2.55, 0.0, -0.0002, 38.08])
    docs["m/r2/zarr.json"]["attributes"]["spatial:bbox"] = [-2.55, 38.08 - 0.016, -2.55 + 0.0274, 38.08]
    assert overview_grid.plan(copy.deepcopy(docs)) == []


def test_s2_layouts_are_not_touched() -> None:
    """The S2-optimised path's levels are sibling groups (r10m ... r720m), not '.' + subgroups."""
    docs = _docs(STRETCHED)
    layout = docs["m/zarr.json"]["attributes"]["multiscales"]["layout"]
    layout[0]["asset"], layout[1]["derived_from"] = "r10m", "r10m"
    assert overview_grid.plan(docs) == [] and overview_grid.resample_jobs(docs) == []
