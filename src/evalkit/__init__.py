"""evalkit: a reproducible evaluation workbook for health and care safety-improvement programmes.

The package is layered; each layer imports only from those above it:

1. :mod:`evalkit.config` - typed parameter models and project paths;
2. :mod:`evalkit.data` - read, validate and tidy raw extracts; the demo generator;
3. :mod:`evalkit.stats` - pure statistical functions, tidy frame in, frozen result out;
4. :mod:`evalkit.report` - figures, tables and plain-English text for the packs;
5. :mod:`evalkit.pipeline` - run notebooks with papermill, publish HTML with nbconvert;
6. :mod:`evalkit.cli` - the ``evalkit`` command line.

``docs/architecture.md`` maps every module; a test keeps that map in step with the code.
"""

import platform
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("evalkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def versions(packages: Iterable[str] = ()) -> dict[str, str]:
    """Python's, evalkit's and the named packages' versions ("not installed" where one is absent), for
    the manifest and the packs' provenance."""
    found = {"python": platform.python_version(), "evalkit": __version__}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


__all__ = ["__version__", "versions"]
