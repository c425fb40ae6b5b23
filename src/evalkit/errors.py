"""The evalkit exception and warning families.

Every error evalkit raises on purpose derives from :class:`EvalkitError`, so a
caller can catch the package's own failures without catching programming
errors. Messages name the file, row, column or key and the offending value,
and say how to fix it.
"""

from __future__ import annotations


class EvalkitError(Exception):
    """Root of every error evalkit raises on purpose."""


class ConfigError(EvalkitError):
    """A parameter file is missing, malformed, or inconsistent."""


class DataValidationError(EvalkitError):
    """A raw extract or processed table cannot be used as it stands."""


class AnalysisError(EvalkitError):
    """An analysis cannot be run on the data and options it was given."""


class NotebookExecutionError(EvalkitError):
    """A notebook failed while it ran.

    The fields survive pickling, so the error can cross a process pool.
    """

    def __init__(self, notebook: str, cell_index: int | None, ename: str, evalue: str,
                 output_path: str | None = None):
        self.notebook = notebook
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.output_path = output_path
        where = f"cell {cell_index}" if cell_index is not None else "an unknown cell"
        saved = f"; the partial notebook is at {output_path}" if output_path else ""
        super().__init__(f"{notebook} failed in {where}: {ename}: {evalue}{saved}")

    def __reduce__(self):
        return (type(self), (self.notebook, self.cell_index, self.ename, self.evalue,
                             self.output_path))


class PublishError(EvalkitError):
    """An executed notebook could not be turned into an evidence pack."""


class EvalkitWarning(UserWarning):
    """Root of the warnings evalkit issues."""


class ShortBaselineWarning(EvalkitWarning):
    """Fewer baseline points than the method needs to be reliable."""


class ShortSeriesWarning(EvalkitWarning):
    """Fewer points either side of an intervention than a model needs to be reliable."""


class DataQualityWarning(EvalkitWarning):
    """The data can be used, but something in it deserves a reader's attention."""
