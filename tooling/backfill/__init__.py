"""Backfill tooling: submit, dry-run, status and replay of geozarr-backfill runs."""
