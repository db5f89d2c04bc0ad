"""The catalog tooling's one error family: every failure is a CatalogError (exit 2 at the CLI)
unless it is a finding (a mismatch, exit 1), which is a value, not an exception."""

from __future__ import annotations


class CatalogError(Exception):
    """The command cannot run or cannot finish (exit 2)."""


class ScratchServerError(CatalogError):
    """The scratch PostgreSQL or STAC API did not start."""


class NoBackup(CatalogError):
    """There is no complete backup where one was expected."""


class AuditError(CatalogError):
    """An item action cannot be done safely (nothing to restore, an object not ours, ...)."""
