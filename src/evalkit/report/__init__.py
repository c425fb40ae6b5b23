"""Reporting (layer 4): figures, tables and plain-English text for the evidence packs."""
