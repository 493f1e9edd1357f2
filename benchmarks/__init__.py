"""Benchmarks: bots-runtime side by side with tini, dumb-init, supervisord and circus.

Not collected by pytest and not installed with the package; run `python -m benchmarks run`.
"""
