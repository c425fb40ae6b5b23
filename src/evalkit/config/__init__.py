"""Configuration: typed parameter models and project paths (layer 1)."""

from evalkit.config.load import Pack, ProjectConfig, load_pack, load_programme, load_project
from evalkit.config.models import DOMAINS, Measure, PackParameters, Programme
from evalkit.config.paths import ProjectPaths, find_root

__all__ = [
    "DOMAINS",
    "Measure",
    "Pack",
    "PackParameters",
    "Programme",
    "ProjectConfig",
    "ProjectPaths",
    "find_root",
    "load_pack",
    "load_programme",
    "load_project",
]
