"""`python -m billing_sync`: the sync service process."""
import gc

from billing_shared.runtime import run_service

from billing_sync.bootstrap import build_app
from billing_sync.config import SyncSettings


def main() -> None:
    tune_gc()
    run_service("sync", SyncSettings(), build_app)


def tune_gc() -> None:
    """A consumer batch keeps thousands of events (each a few dozen objects) alive while it is handled, so with
    Python's defaults (a young collection every 700 allocations) they survive young collections, get promoted,
    and make full collections walk the whole heap (every module, pydantic schema and client object) again and
    again: that was most of the CPU an event cost (bench/pipeline.py). What is loaded at start is frozen out of
    collection (it lives as long as the process), and young collections come less often. Memory stays bounded:
    nearly everything is freed by reference counting; cycles wait a little longer for their collection."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 10)


if __name__ == "__main__":
    main()
