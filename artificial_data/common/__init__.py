"""Dagster-free logic shared by all three code locations.

Nothing in here may import Dagster or any code-location package: it must be usable from the
CLI, the benchmarks and the tests without an orchestrator.
"""
