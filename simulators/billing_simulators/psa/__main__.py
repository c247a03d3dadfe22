"""python -m billing_simulators.psa [--host 127.0.0.1] [--port 9101] [--data-dir DIR]

With a data folder (or PSA_SIM_DATA_DIR) the tenant's data survives a restart.

Environment overrides: PSA_SIM_PORT, PSA_SIM_USERNAME, PSA_SIM_SECRET,
PSA_SIM_INTEGRATION_CODE, PSA_SIM_PUBLIC_URL.
"""

from __future__ import annotations

import argparse
import logging
import os

from aiohttp import web

from .app import create_app
from .config import DEFAULT_PORT, PsaSimConfig

log = logging.getLogger("billing_simulators.psa")


def config_from_env(port: int) -> PsaSimConfig:
    defaults = PsaSimConfig()
    return PsaSimConfig(
        username=os.environ.get("PSA_SIM_USERNAME", defaults.username),
        secret=os.environ.get("PSA_SIM_SECRET", defaults.secret),
        integration_code=os.environ.get("PSA_SIM_INTEGRATION_CODE", defaults.integration_code),
        public_base_url=os.environ.get("PSA_SIM_PUBLIC_URL", f"http://localhost:{port}"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m billing_simulators.psa",
                                     description="Autotask-REST-shaped PSA simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("PSA_SIM_PORT", DEFAULT_PORT)))
    parser.add_argument("--data-dir", default=os.environ.get("PSA_SIM_DATA_DIR"),
                        help="keep the state in this folder across restarts (default: in memory only)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = config_from_env(args.port)
    app = create_app(config, data_dir=args.data_dir)

    async def announce(_app: web.Application) -> None:
        # on_startup runs just before the listener binds, in the same task.
        log.info("PSA simulator ready on http://%s:%d (public URL %s, user %s)",
                 args.host, args.port, config.public_base_url, config.username)

    app.on_startup.append(announce)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
