"""Benchmarks of agentmail-server against peer baselines measured in the same run (see BENCHMARKS.md).

Run `python -m bench --help`. Nothing here is imported by the server or the tests.
"""
