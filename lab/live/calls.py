"""The newest CNI calls, each time the journal grows: one follower for every reader.

The journal is a file of JSON lines appended by whichever process ran the call (the
CLI, the app, a check), so the follower looks at its size; it is the only one that
does, however many pages are open.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from lab.runtime.journal import Journal

POLL = 0.2  # seconds between two looks at the journal's size
SHOWN = 20  # calls sent on each change (the page's transcript)


def _size(journal: Journal | None) -> int:
    try:
        return os.stat(journal.path).st_size if journal else -1
    except FileNotFoundError:
        return 0


def follow_calls(
    journal_of: Callable[[], Journal | None], stop: threading.Event
) -> Iterator[list[dict[str, Any]]]:
    """The journal's last calls now, then whenever it changes (the lab's journal may
    come and go with the lab: `journal_of` is asked again on every look)."""
    seen: int | None = None
    while not stop.is_set():
        journal = journal_of()
        size = _size(journal)
        if size != seen:
            seen = size
            yield journal.tail(SHOWN) if journal else []
        stop.wait(POLL)
