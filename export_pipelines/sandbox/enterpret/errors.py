"""The one error a bad Enterpret request produces: a 400 with ``{"error": message}`` (N-1)."""


class RequestError(ValueError):
    """The request is malformed; the message says where (a JSON path) and what is expected."""
