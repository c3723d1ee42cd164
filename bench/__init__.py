"""Benchmarks, run as scripts (`python bench/webhook.py`, `python bench/coupons.py`); a package
only so that tools tell bench/coupons.py from the coupons feature."""
