"""The error family: user errors say what went wrong and what to do.

A :class:`FivesafesError` is a *user* error (bad input, bad arguments, refused by
policy). The CLI prints its message on one line and exits with code 2; any other
exception is an internal error (exit code 1).
"""

from __future__ import annotations


class FivesafesError(Exception):
    """A user error, with a message that says what to do."""


class InputError(FivesafesError):
    """A provider file is not what its dataset specification says.

    Names the file, the data row (1 = first row after the header), the line of the
    file it starts on (``line``; taken as ``row + 1`` when not given, which holds
    unless a quoted field spans lines or blank lines come before it) and the field.
    """

    def __init__(
        self,
        file: str,
        message: str,
        row: int | None = None,
        field: str | None = None,
        value: str | None = None,
        more: int = 0,
        consequence: str = "Nothing from this file was stored.",
        line: int | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.line = line if line is not None else (row + 1 if row is not None else None)
        self.field = field
        self.value = value
        self.more = more
        where = file
        if row is not None:
            where += f", row {row} (line {self.line})"
        if field is not None:
            where += f", field '{field}'"
        text = f"{where}: {message}"
        if value is not None:
            text += f" (got {value!r})"
        if more:
            text += f"; and {more} more problem{'s' if more > 1 else ''} in this file"
        text += "." + (f" {consequence}" if consequence else "")
        super().__init__(text)
        self._init = (file, message, row, field, value, more, consequence, line)

    def __reduce__(self) -> tuple[type[InputError], tuple[object, ...]]:
        # Rebuilt from what it was made of (the default would call it with its
        # text alone): it crosses from a worker process checking an upload.
        return (type(self), self._init)


class PolicyRefusal(FivesafesError):
    """An action the TRE's policy does not allow."""
