"""Run a producer one step ahead on its own thread.

The byte scanner (numpy, which releases the GIL) and decompression then overlap with pyarrow's
parse of the previous run and with the Parquet writer, instead of leaving a core idle while each
waits for the other. The queue holds ``depth`` items, so memory stays bounded.
"""

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced on a helper thread; its exception is re-raised here, in order."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                ready.put(item)
        except BaseException as exc:  # handed to the consumer
            ready.put(_Failure(exc))
        else:
            ready.put(_END)

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.1)
        thread.join()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
