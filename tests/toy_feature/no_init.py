"""A module in the feature list without ``init_app`` (start-up must refuse it)."""
