"""Project paths, all derived from one root folder.

The root is the folder holding ``parameters/programme.yml``. It is found from an
explicit argument, else the ``EVALKIT_ROOT`` environment variable, else by
walking up from the current directory (so a notebook run from ``notebooks/``
finds its project).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import ConfigError

ROOT_ENV_VAR = "EVALKIT_ROOT"
PROGRAMME_FILE = Path("parameters") / "programme.yml"


def find_root(start: str | os.PathLike | None = None) -> Path:
    """Return the project root: ``start``, else ``$EVALKIT_ROOT``, else the nearest parent with a programme file."""
    if start is not None:
        root = Path(start).expanduser().resolve()
        if not (root / PROGRAMME_FILE).is_file():
            raise ConfigError(
                f"{root} is not an evalkit project: {root / PROGRAMME_FILE} does not exist. "
                "Pass the folder that holds parameters/programme.yml."
            )
        return root
    env = os.environ.get(ROOT_ENV_VAR)
    if env:
        return find_root(env)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / PROGRAMME_FILE).is_file():
            return folder
    raise ConfigError(
        f"No evalkit project found in {here} or any folder above it (looked for {PROGRAMME_FILE}). "
        f"Run from inside the project, pass --root, or set {ROOT_ENV_VAR}."
    )


@dataclass(frozen=True)
class ProjectPaths:
    """Every folder and file evalkit reads or writes, from one root."""

    root: Path

    @classmethod
    def from_root(cls, root: str | os.PathLike | None = None) -> "ProjectPaths":
        return cls(find_root(root))

    @property
    def parameters(self) -> Path:
        return self.root / "parameters"

    @property
    def programme_file(self) -> Path:
        return self.root / PROGRAMME_FILE

    def pack_file(self, locality: str, stream: str) -> Path:
        return self.parameters / locality / f"{stream}.yml"

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def observations_file(self) -> Path:
        return self.processed / "observations.parquet"

    @property
    def survey_file(self) -> Path:
        return self.processed / "survey_responses.parquet"

    @property
    def quarantine(self) -> Path:
        return self.processed / "quarantine"

    @property
    def ingest_report_file(self) -> Path:
        return self.processed / "ingest_report.json"

    @property
    def truth_file(self) -> Path:
        return self.raw / "demo_truth.csv"

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def executed(self) -> Path:
        return self.outputs / "notebooks"

    @property
    def packs(self) -> Path:
        return self.outputs / "packs"

    @property
    def index_file(self) -> Path:
        return self.outputs / "index.html"

    @property
    def manifest_file(self) -> Path:
        return self.outputs / "manifest.json"
