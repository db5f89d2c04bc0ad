"""What each product type must hold, and how its type is recognised.

A product missing one of its native groups is not converted (preflight: exit 2), and a converted
store whose run.json names such a product type must hold them (the `geozarr.requested-groups`
rule), so a product missing a resolution can never be published as valid. The EOPF Sentinel-2 MSI
products (L1C and L2A) hold their reflectances at 10, 20 and 60 m.

Sentinel-1 GRD products (`product:type` S01SIWGRD, S01SEWGRD, ...) hold one top group per
polarisation (`..._VV`, `..._VH`); every polarisation group must hold the backscatter
(`/measurements`) and the ground control points the converter reprojects it with
(`/conditions/gcp`): `S1_POLARISATION_GROUPS`, paths relative to each polarisation group.
"""

from __future__ import annotations

import re
from typing import Final

_S2_MSI_NATIVE: Final = ("/measurements/reflectance/r10m", "/measurements/reflectance/r20m",
                         "/measurements/reflectance/r60m")
NATIVE_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "S02MSIL2A": _S2_MSI_NATIVE,
    "S02MSIL1C": _S2_MSI_NATIVE,
}
S1_POLARISATION_GROUPS: Final = ("/measurements", "/conditions/gcp")
_POLARISATION: Final = re.compile(r"_(VV|VH|HH|HV)$")


def required_groups(product_type: str) -> tuple[str, ...]:
    """The groups a product of PRODUCT_TYPE must have (none known: empty)."""
    return NATIVE_GROUPS.get(product_type, ())


def is_sentinel1(product_type: str) -> bool:
    """eopf-geozarr's own test (`_is_sentinel1`): `product:type` starts with S01."""
    return product_type.startswith("S01")


def polarisation(group: str) -> str | None:
    """'S01SIWGRD_..._VV' -> 'VV'; None for a group naming no polarisation."""
    m = _POLARISATION.search(group.strip("/"))
    return m.group(1) if m else None
