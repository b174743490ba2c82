"""Benchmarks: scripts that measure speed (`bench.perf`) and method (`bench.method`) against a
baseline run in the same process, print their figures and save them with a stamp
(`bench.report`). Run from the repository root: `python -m bench.perf.throughput`.
docs/benchmarks.md lists each with its question and its last figure."""
