"""The conformance DAG: run the rendered `geozarr-conformance` WorkflowTemplate locally
(`local`: each container's command as a process on this machine) or submit it to Argo
(`cluster`), and report the result (`report`).

Entry point: `tooling.dag.cli.main`, called by `invoke conformance`.
"""
