"""A synthetic but physically plausible Sentinel-2 scene, evaluated at map coordinates.

Every field is a function of the UTM coordinates of pixel centres, so the
r10m, r20m and r60m grids show the same landscape (as in a real product) and
any window can be computed on its own (bounded memory for large sizes).

The landscape mixes water, vegetation and bare soil (smooth random fields),
adds clouds (Gaussian blobs), a little sensor noise, and a slanted no-data
strip on the east edge (outside the swath), where bands hold the fill value 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Band order of the spectra below.
BANDS: tuple[str, ...] = (
    "b01", "b02", "b03", "b04", "b05", "b06", "b07", "b08", "b8a", "b09", "b10", "b11", "b12",
)
# Typical BOA reflectances (0-1) of a few surfaces, per band (same order as BANDS).
_SPECTRA: dict[str, tuple[float, ...]] = {
    "water": (0.060, 0.050, 0.040, 0.030, 0.020, 0.015, 0.012, 0.010, 0.010, 0.005, 0.002, 0.005, 0.003),
    "vegetation": (0.040, 0.050, 0.080, 0.040, 0.120, 0.300, 0.380, 0.420, 0.430, 0.400, 0.005, 0.220, 0.110),
    "soil": (0.100, 0.120, 0.160, 0.200, 0.230, 0.250, 0.270, 0.280, 0.290, 0.280, 0.008, 0.350, 0.300),
    "cloud": (0.450, 0.450, 0.450, 0.450, 0.460, 0.470, 0.470, 0.470, 0.470, 0.400, 0.100, 0.350, 0.250),
}
SCALE_FACTOR = 1e-4
ADD_OFFSET = -0.1

# Scene classification (SCL) codes used here.
SCL_NODATA, SCL_VEGETATION, SCL_SOIL, SCL_WATER = 0, 4, 5, 6
SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH = 8, 9


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


@dataclass(frozen=True)
class Scene:
    """The landscape over the extent [x0, x0 + width] x [y0 - height, y0] (metres)."""

    seed: int
    x0: float
    y0: float
    width: float
    height: float

    def _waves(self, salt: int, n: int = 6) -> tuple[np.ndarray, ...]:
        rng = np.random.default_rng([self.seed, salt])
        extent = max(self.width, self.height)
        wavelengths = extent * rng.uniform(0.15, 1.2, n)
        angles = rng.uniform(0, np.pi, n)
        phases = rng.uniform(0, 2 * np.pi, n)
        amplitudes = rng.uniform(0.5, 1.0, n) / np.sqrt(n)
        return wavelengths, angles, phases, amplitudes

    def _smooth(self, salt: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """A smooth random field of order 1 at the points (x, y) (2-D arrays, metres)."""
        wl, ang, ph, amp = self._waves(salt)
        out = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.float32)
        for k in range(len(wl)):
            u = (x - self.x0) * np.cos(ang[k]) + (self.y0 - y) * np.sin(ang[k])
            out += (amp[k] * np.sin(2 * np.pi * u / wl[k] + ph[k])).astype(np.float32)
        return out

    def cloud(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cloud opacity 0-1: a few Gaussian blobs."""
        rng = np.random.default_rng([self.seed, 99])
        n = 3
        cx = self.x0 + rng.uniform(0.1, 0.9, n) * self.width
        cy = self.y0 - rng.uniform(0.1, 0.9, n) * self.height
        r = rng.uniform(0.05, 0.15, n) * max(self.width, self.height)
        peak = rng.uniform(0.6, 1.0, n)
        out = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.float32)
        for k in range(n):
            d2 = ((x - cx[k]) ** 2 + (y - cy[k]) ** 2) / (r[k] ** 2)
            out += (peak[k] * np.exp(-d2)).astype(np.float32)
        return np.clip(out, 0.0, 1.0)

    def nodata(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """True outside the swath: a slanted strip along the east edge (~8 % of the tile)."""
        fx = (x - self.x0) / self.width
        fy = (self.y0 - y) / self.height
        return (fx + 0.2 * fy) > 1.02

    def fractions(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Water / vegetation / soil cover fractions (sum to 1)."""
        a = self._smooth(1, x, y)
        b = self._smooth(2, x, y)
        water = _sigmoid((-a - 0.55) * 8.0)
        veg = (1.0 - water) * _sigmoid(b * 4.0)
        soil = 1.0 - water - veg
        return {"water": water, "vegetation": veg, "soil": soil}

    def reflectance(self, band: str, x: np.ndarray, y: np.ndarray, *, noise_key: tuple[int, ...]) -> np.ndarray:
        """BOA reflectance 0-1 (float32); NaN where there is no data."""
        i = BANDS.index(band)
        fr = self.fractions(x, y)
        surface = sum(fr[k] * np.float32(_SPECTRA[k][i]) for k in ("water", "vegetation", "soil"))
        c = self.cloud(x, y)
        refl = (1.0 - c) * surface + c * np.float32(_SPECTRA["cloud"][i])
        rng = np.random.default_rng([self.seed, 7, i, *noise_key])
        refl = refl + rng.normal(0.0, 0.004, refl.shape).astype(np.float32)
        refl = np.clip(refl, 0.0005, 1.2).astype(np.float32)
        refl[self.nodata(x, y)] = np.nan
        return refl

    def scl(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        fr = self.fractions(x, y)
        c = self.cloud(x, y)
        out = np.full(c.shape, SCL_SOIL, dtype=np.uint8)
        out[fr["vegetation"] > 0.5] = SCL_VEGETATION
        out[fr["water"] > 0.5] = SCL_WATER
        out[c > 0.35] = SCL_CLOUD_MEDIUM
        out[c > 0.65] = SCL_CLOUD_HIGH
        out[self.nodata(x, y)] = SCL_NODATA
        return out


def to_digital_counts(refl: np.ndarray) -> np.ndarray:
    """Reflectance to the stored uint16 (scale 1e-4, offset -0.1; 0 = no data)."""
    dn = np.rint((refl - ADD_OFFSET) / SCALE_FACTOR)
    dn = np.where(np.isnan(refl), 0, np.clip(dn, 1, 65535))
    return dn.astype(np.uint16)
