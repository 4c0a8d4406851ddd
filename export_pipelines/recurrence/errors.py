"""The one error a recurrence raises, so callers can name the export and pass the reason on."""


class RecurrenceError(ValueError):
    """A recurrence text that cannot be used: the message is the parser's reason, for the user."""
