"""What GDAL itself reads over the network: its own statistics (VSINetworkStats*,
GDAL >= 3.2), which rasterio does not wrap, called through ctypes on the GDAL library
rasterio loaded.

Counts every HTTP request of GDAL's /vsis3/ (and /vsicurl/...) handlers while
CPL_VSIL_NETWORK_STATS_ENABLED is YES, by method, with the bytes downloaded.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GdalNetworkStats:
    _get_json: Any
    _reset: Any
    _free: Any

    def reset(self) -> None:
        self._reset()

    def read(self) -> dict[str, Any] | None:
        """{"requests", "bytes", "by_method"} since the last reset; None when GDAL gives nothing."""
        pointer = self._get_json(None)
        if not pointer:
            return None
        try:
            text = ctypes.string_at(pointer).decode()
        finally:
            self._free(pointer)
        methods = json.loads(text).get("methods") or {}
        by_method = {name: int(m.get("count", 0)) for name, m in sorted(methods.items())}
        return {"requests": sum(by_method.values()),
                "bytes": sum(int(m.get("downloaded_bytes", 0)) for m in methods.values()),
                "by_method": by_method}


def _library_candidates() -> list[str]:
    import rasterio

    here = os.path.dirname(rasterio.__file__)
    # manylinux/macOS wheels vendor GDAL beside the package (the one rasterio loaded).
    # Only those: a system libgdal found by name might not be the one rasterio loaded, and
    # its statistics would then read 0 (a number that looks true and is not).
    return (sorted(glob.glob(os.path.join(here, "..", "rasterio.libs", "libgdal*")))
            + sorted(glob.glob(os.path.join(here, ".dylibs", "libgdal*"))))


def load() -> GdalNetworkStats | None:
    """The statistics functions of the GDAL rasterio's wheel bundles; None when not found."""
    for path in _library_candidates():
        try:
            lib = ctypes.CDLL(path)
            get_json, reset, free = lib.VSINetworkStatsGetAsSerializedJSON, lib.VSINetworkStatsReset, lib.VSIFree
        except (OSError, AttributeError):
            continue
        get_json.argtypes = [ctypes.c_char_p]
        get_json.restype = ctypes.c_void_p
        reset.argtypes = []
        reset.restype = None
        free.argtypes = [ctypes.c_void_p]
        free.restype = None
        return GdalNetworkStats(get_json, reset, free)
    return None
