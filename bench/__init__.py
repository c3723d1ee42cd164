"""Benchmarks, run as scripts (`python bench/webhook.py`, `python bench/coupons.py`,
`python bench/surveys.py`; docs/benchmark.md); a package only so that tools tell
bench/coupons.py and bench/surveys.py from the features of the same name."""
