"""The one error every reader raises: which file, where in it, which column, and why.

A ``ValueError`` subclass, so callers that caught the old readers' ``ValueError`` still do. The message
never holds more of the data than the offending value (cut to 80 characters): files may carry
personal data, and an error ends up in run logs.
"""


class NormalizeError(ValueError):
    """A raw file that cannot become rows of its declared schema."""

    def __init__(
        self, file: str, location: str | None = None, column: str | None = None, *, reason: str
    ) -> None:
        self.file = file
        self.location = location
        self.column = column
        self.reason = reason
        parts = [file]
        if location:
            parts.append(location)
        if column:
            parts.append(f"column {column}")
        # "a.json is not a complete …" reads better than "a.json: is not a complete …".
        glue = " " if len(parts) == 1 and reason.startswith("is ") else ": "
        super().__init__(f"{': '.join(parts)}{glue}{reason}")


def shown(value: object, limit: int = 80) -> str:
    """``value`` as it may appear in an error message: repr'd and cut."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
