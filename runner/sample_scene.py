"""A synthetic but physically plausible Sentinel-2 scene, evaluated at map coordinates.

Every field is a function of the UTM coordinates of pixel centres, so the
r10m, r20m and r60m grids show the same landscape (as in a real product) and
any window can be computed on its own (bounded memory for large sizes).

The landscape mixes water, vegetation and bare soil (smooth random fields),
adds clouds (Gaussian blobs), a little sensor noise, and a slanted no-data
strip on the east edge (outside the swath), where bands hold the fill value 0.
"""

from __future__ import annotations

import functools
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
NOISE_SIGMA = 0.004  # sensor noise, reflectance
REFLECTANCE_MIN, REFLECTANCE_MAX = 0.0005, 1.2

# Scene classification (SCL) codes used here.
SCL_NODATA, SCL_VEGETATION, SCL_SOIL, SCL_WATER = 0, 4, 5, 6
SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH = 8, 9


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


@dataclass(frozen=True)
class Scene:
    """The landscape over the extent [x0, x0 + width] x [y0 - height, y0] (metres).

    Fields are evaluated on a grid given by its axes: `x` (nx,) and `y` (ny,) pixel-centre
    coordinates; results are (ny, nx). Every field is separable or a sum of separable
    terms, so a whole grid costs a few outer products (no per-pixel trigonometry).
    """

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
        """A smooth random field of order 1 (a sum of plane waves) on the grid (x, y).

        sin(a + b) = sin a cos b + cos a sin b: each wave is two outer products, so the
        whole field is one (ny, 2n) @ (2n, nx) matrix product."""
        wl, ang, ph, amp = self._waves(salt)
        k = 2 * np.pi / wl
        ax = np.outer(k * np.cos(ang), np.asarray(x, np.float64) - self.x0)  # (n, nx)
        by = np.outer(self.y0 - np.asarray(y, np.float64), k * np.sin(ang)) + ph  # (ny, n)
        left = np.concatenate([amp * np.cos(by), amp * np.sin(by)], axis=1).astype(np.float32)  # (ny, 2n)
        right = np.concatenate([np.sin(ax), np.cos(ax)], axis=0).astype(np.float32)  # (2n, nx)
        return left @ right

    def cloud(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cloud opacity 0-1: a few Gaussian blobs (each the outer product of two 1-D Gaussians)."""
        rng = np.random.default_rng([self.seed, 99])
        n = 3
        cx = self.x0 + rng.uniform(0.1, 0.9, n) * self.width
        cy = self.y0 - rng.uniform(0.1, 0.9, n) * self.height
        r = rng.uniform(0.05, 0.15, n) * max(self.width, self.height)
        peak = rng.uniform(0.6, 1.0, n)
        x = np.asarray(x, np.float64)
        y = np.asarray(y, np.float64)
        gy = (peak[None, :] * np.exp(-((y[:, None] - cy[None, :]) ** 2) / r**2)).astype(np.float32)  # (ny, n)
        gx = np.exp(-((x[None, :] - cx[:, None]) ** 2) / (r[:, None] ** 2)).astype(np.float32)  # (n, nx)
        return np.clip(gy @ gx, 0.0, 1.0)

    def nodata(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """True outside the swath: a slanted strip along the east edge (~8 % of the tile)."""
        fx = (np.asarray(x, np.float64) - self.x0) / self.width
        fy = (self.y0 - np.asarray(y, np.float64)) / self.height
        return fx[None, :] > (1.02 - 0.2 * fy)[:, None]

    def fractions(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Water / vegetation / soil cover fractions (sum to 1)."""
        a = self._smooth(1, x, y)
        b = self._smooth(2, x, y)
        water = _sigmoid((-a - np.float32(0.55)) * np.float32(8.0))
        veg = (1.0 - water) * _sigmoid(b * np.float32(4.0))
        soil = 1.0 - water - veg
        return {"water": water, "vegetation": veg, "soil": soil}

    def surface(self, x: np.ndarray, y: np.ndarray) -> SurfaceFields:
        """What every band of a grid shares: cover fractions, cloud opacity, no-data."""
        cloud = self.cloud(x, y)
        return SurfaceFields(self.fractions(x, y), cloud, 1.0 - cloud, self.nodata(x, y))

    def surface_reflectance(self, band: str, fields: SurfaceFields) -> np.ndarray:
        """Noise-free BOA reflectance 0-1 (float32) of a band over the fields' grid: the cover
        mix seen through the clouds (no-data pixels not masked)."""
        i = BANDS.index(band)
        fr = fields.fractions
        refl = fr["water"] * np.float32(_SPECTRA["water"][i])
        refl += fr["vegetation"] * np.float32(_SPECTRA["vegetation"][i])
        refl += fr["soil"] * np.float32(_SPECTRA["soil"][i])
        refl *= fields.clear
        refl += fields.cloud * np.float32(_SPECTRA["cloud"][i])
        return refl

    def reflectance(self, band: str, x: np.ndarray, y: np.ndarray, *, noise_key: tuple[int, ...],
                    fields: SurfaceFields | None = None) -> np.ndarray:
        """BOA reflectance 0-1 (float32) with sensor noise; NaN where there is no data."""
        f = fields or self.surface(x, y)
        refl = self.surface_reflectance(band, f)
        refl += self._noise(band, refl.shape, noise_key) * np.float32(SCALE_FACTOR)
        np.clip(refl, REFLECTANCE_MIN, REFLECTANCE_MAX, out=refl)
        refl[f.nodata] = np.nan
        return refl

    def digital_counts(self, band: str, x: np.ndarray, y: np.ndarray, *, noise_key: tuple[int, ...],
                       fields: SurfaceFields | None = None) -> np.ndarray:
        """The stored uint16 of a band: `to_digital_counts(reflectance(...))`, computed in
        counts directly (one float32 temporary)."""
        f = fields or self.surface(x, y)
        dn = self.surface_reflectance(band, f)
        dn *= np.float32(1 / SCALE_FACTOR)
        dn += self._noise(band, dn.shape, noise_key)
        dn += np.float32(-ADD_OFFSET / SCALE_FACTOR + 0.5)  # + 0.5: truncation below rounds
        np.clip(dn, _counts(REFLECTANCE_MIN), _counts(REFLECTANCE_MAX) + 0.5, out=dn)
        out = dn.astype(np.uint16)
        out[f.nodata] = 0
        return out

    def _noise(self, band: str, shape: tuple[int, ...], key: tuple[int, ...]) -> np.ndarray:
        """Gaussian sensor noise in digital counts (sigma 40 = 0.004 reflectance): values drawn
        from a fixed table of 65536 normal deviates by random 16-bit indices (a quarter of
        the cost of drawing normals)."""
        table = _noise_table(self.seed)
        idx = np.random.default_rng([self.seed, 7, BANDS.index(band), *key]).integers(
            0, 1 << 16, shape, dtype=np.uint16)
        return table[idx]

    def scl(self, x: np.ndarray, y: np.ndarray, fields: SurfaceFields | None = None) -> np.ndarray:
        f = fields or self.surface(x, y)
        out = np.full(f.cloud.shape, SCL_SOIL, dtype=np.uint8)
        out[f.fractions["vegetation"] > 0.5] = SCL_VEGETATION
        out[f.fractions["water"] > 0.5] = SCL_WATER
        out[f.cloud > 0.35] = SCL_CLOUD_MEDIUM
        out[f.cloud > 0.65] = SCL_CLOUD_HIGH
        out[f.nodata] = SCL_NODATA
        return out


@dataclass(frozen=True)
class SurfaceFields:
    fractions: dict[str, np.ndarray]
    cloud: np.ndarray
    clear: np.ndarray  # 1 - cloud
    nodata: np.ndarray


@functools.lru_cache(maxsize=4)
def _noise_table(seed: int) -> np.ndarray:
    table = np.random.default_rng([seed, 7]).standard_normal(1 << 16).astype(np.float32)
    table *= np.float32(NOISE_SIGMA / SCALE_FACTOR)
    return table


def _counts(refl: float) -> float:
    return float(np.float32((refl - ADD_OFFSET) / SCALE_FACTOR))


def to_digital_counts(refl: np.ndarray) -> np.ndarray:
    """Reflectance to the stored uint16 (scale 1e-4, offset -0.1, rounded; 0 = no data)."""
    nodata = np.isnan(refl)
    dn = (refl - np.float32(ADD_OFFSET)) / np.float32(SCALE_FACTOR)
    np.rint(dn, out=dn)
    np.clip(dn, 1, 65535, out=dn)
    dn[nodata] = 0
    return dn.astype(np.uint16)
