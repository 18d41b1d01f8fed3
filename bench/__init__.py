"""Huiyuan's benchmarks: `python -m bench` (see docs/benchmarks.md).

Each benchmark is a module with a TITLE and a `run(ctx) -> Result`, listed in
bench/__main__.py's BENCHMARKS. The runner seeds one throwaway database, runs them,
and prints each figure beside a baseline measured in the same run.
"""
