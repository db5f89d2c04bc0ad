# Two entry points for a fresh machine; everything else is `uv run invoke --list`.
.PHONY: setup conformance test validate

setup:
	@scripts/bootstrap.sh

conformance: setup  ## the main job: run the deployed conformance DAG locally
	uv run invoke conformance

test: setup  ## the whole test suite
	uv run invoke test

validate: setup
	uv run invoke validate
