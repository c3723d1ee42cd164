"""Survey tests use the console's fixtures too (staff accounts, signing in)."""

from tests.console.conftest import signed_in, staff_factory

__all__ = ["signed_in", "staff_factory"]
