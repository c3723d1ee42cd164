"""LINE adapters, one module per feature: event -> service call -> messages."""
