"""Benchmarks (docs/benchmark.md).

A package, so that mypy does not take ``bench/surveys.py`` for the ``surveys`` package.
"""
