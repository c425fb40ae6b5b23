"""Turn evalkit's network guard on as Python starts, when ``EVALKIT_NO_NETWORK=1``.

Python imports ``sitecustomize`` from ``sys.path`` at start-up; this folder is
first on the ``PYTHONPATH`` that :func:`evalkit.pipeline.netguard.kernel_environment`
gives every kernel. With ``EVALKIT_NO_NETWORK`` set to ``1`` the guard is on
before any cell runs. It fails closed: if the guard cannot be loaded the
process stops, rather than run with network access. Any other
``sitecustomize`` that this one hides (for example a Linux distribution's) is
run afterwards, as Python would have run it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _activate() -> None:
    try:
        from evalkit.pipeline.netguard import activate
    except ImportError as exc:
        raise SystemExit(f"evalkit: EVALKIT_NO_NETWORK=1 but the network guard cannot be imported ({exc}); "
                         "install evalkit in this environment or unset EVALKIT_NO_NETWORK.") from exc
    activate()


def _run_hidden_sitecustomize() -> None:
    others = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


if os.environ.get("EVALKIT_NO_NETWORK") == "1":  # evalkit.pipeline.netguard.ENV_VARIABLE
    _activate()
_run_hidden_sitecustomize()
