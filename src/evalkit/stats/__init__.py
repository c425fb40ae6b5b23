"""Statistics (layer 3): pure functions, tidy DataFrame in, frozen result out; no file I/O, no plotting side effects."""
