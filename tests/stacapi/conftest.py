"""Fixtures of the STAC API registration tests: the real STAC API (session)."""

from __future__ import annotations

from tests.fixtures_stacapi import stac_api  # noqa: F401
