"""Benchmarks: scripts that print a markdown table (`python -m experiments.benchmarks.NAME`).

They are not registered experiments and not timed tests; each writes its table
to experiments/results/.
"""
