"""Errors that name the file, line/row and field a user must fix."""

from __future__ import annotations


class XltError(Exception):
    """Base class of every error xlt raises on purpose."""


class InputFormatError(XltError):
    """A malformed input file: names the file, the 1-based line and what is wrong."""

    def __init__(self, path: str, line: int | None, message: str):
        self.path, self.line, self.message = str(path), line, message
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


class ArtifactError(XltError):
    """An artifact that does not match its schema: names the file, the 0-based row and the field."""

    def __init__(self, path: str, row: int | None, field: str | None, message: str):
        self.path, self.row, self.field, self.message = str(path), row, field, message
        parts = [str(path)]
        if row is not None:
            parts.append(f"row {row}")
        if field is not None:
            parts.append(f"field '{field}'")
        super().__init__(f"{', '.join(parts)}: {message}")


class ConfigError(XltError):
    """A configuration value that cannot work (beyond what the JSON schema catches)."""
