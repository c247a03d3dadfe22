"""`python -m billing_simulators.accounting [--host 127.0.0.1] [--port 9102] [--data-dir DIR]`.

With a data folder (or ACCOUNTING_SIM_DATA_DIR) the company file and tokens survive a restart."""

from __future__ import annotations

import argparse
import logging
import os

from aiohttp import web

from .app import create_app
from .config import AccountingSimConfig

log = logging.getLogger("billing_simulators.accounting")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("ACCOUNTING_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACCOUNTING_SIM_PORT", "9102")))
    parser.add_argument("--data-dir", default=os.environ.get("ACCOUNTING_SIM_DATA_DIR"),
                        help="keep the state in this folder across restarts (default: in memory only)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = AccountingSimConfig.from_env()
    app = create_app(config, data_dir=args.data_dir)

    async def announce(_: web.Application) -> None:
        log.info(
            "accounting simulator ready on http://%s:%d (realm %s)", args.host, args.port, config.realm_id
        )

    app.on_startup.append(announce)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
