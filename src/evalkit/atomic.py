"""Write a file so that a reader sees the old version or the new one, never half of one.

Shared by the report layer (results files) and the pipeline (notebooks, packs, PDFs, screenshots, the
manifest and the index), so it sits at the package root like :mod:`evalkit.errors`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8 with newline "\\n", or bytes as they are) to ``path`` through a temporary
    file in the same folder and a rename.

    A reader sees the old file or the new one, never half of one. The temporary
    file is opened normally (not with mkstemp's private mode) so the pack gets
    the usual permissions.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        if isinstance(data, bytes):
            with temp.open("xb") as handle:
                handle.write(data)
        else:
            with temp.open("x", encoding="utf-8", newline="\n") as handle:
                handle.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


__all__ = ["write_atomic"]
