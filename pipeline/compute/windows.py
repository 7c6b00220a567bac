"""Streams in bounded memory: consecutive overlapping windows (how `speak` and `evaluate` take long
recordings: frames, then feature windows, then mels), and a stream made ahead in a thread."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def windowed(items: Iterable[T], window: int, overlap: int) -> Iterator[list[T]]:
    """Consecutive windows of `window` items, each starting with the previous window's last
    `overlap` items; the last window holds what is left (always more than `overlap` items, or
    everything when there are fewer than `window`)."""
    if not 0 <= overlap < window:
        raise ValueError(f"need 0 <= overlap < window, got overlap {overlap}, window {window}")
    buffer: list[T] = []
    started = False
    for item in items:
        buffer.append(item)
        if len(buffer) == window:
            yield buffer
            started, buffer = True, buffer[window - overlap:]
    if len(buffer) > overlap or (buffer and not started):
        yield buffer


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """The items of `items`, made in a thread of its own up to `depth` ahead of the reader: two
    stages of a stream (e.g. the model and the vocoder, whose torch and native code release the
    GIL) then work at once. An exception in the thread reaches the reader where it happened."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def fill() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((done, None))
        except BaseException as error:  # handed to the reader, which raises it
            slots.put((done, error))

    worker = threading.Thread(target=fill, name="prefetched", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
