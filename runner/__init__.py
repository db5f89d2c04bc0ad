"""The pipeline's steps (sample, preflight, convert, stac, manifest, register) as a package.

Run as `geozarr-runner STEP` or `python -m runner STEP`; see `runner.cli`.
"""

__version__ = "0.1.0"
