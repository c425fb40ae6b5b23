"""Data (layer 2): read raw extracts, validate them, write tidy processed tables; the demo generator."""
