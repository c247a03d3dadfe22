"""`python -m billing_sync`: the sync service process."""
from billing_shared.runtime import run_service

from billing_sync.bootstrap import build_app
from billing_sync.config import SyncSettings


def main() -> None:
    run_service("sync", SyncSettings(), build_app, gc_tuned=True)


if __name__ == "__main__":
    main()
