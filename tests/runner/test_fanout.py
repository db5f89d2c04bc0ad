"""Conversion in parts (`runner.fanout`): one part per S1 polarisation, then `finalize`,
writes the very store the single-process conversion writes; the S2 optimised path cannot be
split (the claim in docs/architecture.md "Fan-out", pinned here against the real converter)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import zarr

from tests.runner.test_sample_s1 import S1_CONVERT_ARGS


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_parts_and_finalize_write_the_single_process_store(tmp_path: Path) -> None:
    from runner.convert import S1Parameters
    from runner.fanout import convert_s1_polarisation, finalize, polarisation_groups
    from runner.sample_s1 import write_sample

    src, single, fan = tmp_path / "s1.zarr", tmp_path / "single.zarr", tmp_path / "fan.zarr"
    write_sample(str(src), size=32, seed=4)
    r = subprocess.run(["eopf-geozarr", "convert", str(src), str(single), *S1_CONVERT_ARGS,
                        "--min-dimension", "16"], capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    groups = polarisation_groups(str(src))
    assert [g[-2:] for g in groups] == ["VH", "VV"]
    for g in groups:
        written = convert_s1_polarisation(str(src), str(fan), g, s1=S1Parameters(min_dimension=16))
        assert written == [f"/{g}/measurements"]
    before = zarr.open_group(fan, mode="r").attrs.asdict()
    assert "spatial:bbox" not in before  # the root is finalize's, not a part's
    summary = finalize(str(fan))
    assert summary["groups"] == groups and len(summary["bbox"]) == 4
    a, b = _files(single), _files(fan)
    assert set(a) == set(b)
    assert [k for k in a if a[k] != b[k]] == []


def test_an_unknown_polarisation_group_is_named(tmp_path: Path) -> None:
    from runner.fanout import convert_s1_polarisation
    from runner.sample_s1 import write_sample

    src = tmp_path / "s1.zarr"
    write_sample(str(src), size=32, seed=1)
    with pytest.raises(KeyError, match="NOPE: not a top group"):
        convert_s1_polarisation(str(src), str(tmp_path / "out.zarr"), "NOPE")
    assert not (tmp_path / "out.zarr").exists()


@pytest.mark.slow
def test_the_s2_optimised_path_needs_every_resolution_in_one_call(sample_72: Path, tmp_path: Path) -> None:
    import xarray as xr

    from runner.converter_import import import_converter

    import_converter()
    from eopf_geozarr.s2_optimization.s2_converter import convert_s2_optimized

    dt = xr.open_datatree(sample_72, engine="zarr", chunks="auto")
    part = xr.DataTree.from_dict({"/measurements/reflectance/r10m":
                                  dt["/measurements/reflectance/r10m"].to_dataset()})
    part.attrs = dict(dt.attrs)
    with pytest.raises(KeyError, match="r60m"):
        convert_s2_optimized(part, output_path=str(tmp_path / "r10m.zarr"), enable_sharding=False,
                             spatial_chunk=4096, compression_level=3, validate_output=False,
                             keep_scale_offset=False)
