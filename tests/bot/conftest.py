"""Fixtures for the plumbing tests (the shared ones are in tests/conftest.py)."""

from tests.factories import create_resident  # noqa: F401 - a fixture for this folder
