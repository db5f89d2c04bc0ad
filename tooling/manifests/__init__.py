"""The rendered manifests: `invoke render`, `invoke validate` and the rules it runs."""
