"""Garbage collector settings for long-running server processes.

Measured on bench/webhooks.py (one API process, ~250k objects alive once everything is imported):
each full collection walked all of them, ~150 ms during which every request in flight waited, and
collections took about 40 % of the API's CPU. What exists at start-up lives until exit, so it is frozen
out of the collector's reach; rarer young collections walk the objects of in-flight requests fewer
times before those die on their own (reference counting still frees everything without cycles at once).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000


def tune_for_server() -> None:
    """Call once start-up is done (imports, container, app), in the process that serves. Only the first
    call acts: a process that builds several apps (the tests) freezes and collects once."""
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
