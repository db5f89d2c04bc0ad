"""What each product type must hold: the groups of its native resolutions.

A product missing one of them is not converted (preflight: exit 2), and a converted store whose
run.json names such a product type must hold them (the `geozarr.requested-groups` rule), so a
product missing a resolution can never be published as valid. The EOPF Sentinel-2 MSI products
(L1C and L2A) hold their reflectances at 10, 20 and 60 m.
"""

from __future__ import annotations

from typing import Final

_S2_MSI_NATIVE: Final = ("/measurements/reflectance/r10m", "/measurements/reflectance/r20m",
                         "/measurements/reflectance/r60m")
NATIVE_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "S02MSIL2A": _S2_MSI_NATIVE,
    "S02MSIL1C": _S2_MSI_NATIVE,
}


def required_groups(product_type: str) -> tuple[str, ...]:
    """The groups a product of PRODUCT_TYPE must have (none known: empty)."""
    return NATIVE_GROUPS.get(product_type, ())
