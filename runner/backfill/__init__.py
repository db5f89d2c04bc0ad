"""A backfill\x27s steps in the image: plan (what to convert), bulk registration, report."""
