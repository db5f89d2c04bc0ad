"""Bucket policy as code: overlays/<env>/storage.yaml (schemas/storage.schema.json) declares an
env bucket's versioning and lifecycle; `policy` reads it into S3's own terms, `drift` compares it
with the live bucket, `cli` is `invoke storage.check|apply`."""
