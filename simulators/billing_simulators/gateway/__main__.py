"""`python -m billing_simulators.gateway [--host 127.0.0.1] [--port 9103] [--data-dir DIR]`.

With a data folder (or GATEWAY_SIM_DATA_DIR) transactions and the vault survive a restart."""

from __future__ import annotations

import argparse
import logging
import os
import socket

from aiohttp import web

from .app import create_app
from .config import GatewaySimConfig

log = logging.getLogger("billing_simulators.gateway")


def config_from_env() -> GatewaySimConfig:
    defaults = GatewaySimConfig()
    return GatewaySimConfig(
        security_key=os.environ.get("GATEWAY_SIM_SECURITY_KEY", defaults.security_key),
        public_key=os.environ.get("GATEWAY_SIM_PUBLIC_KEY", defaults.public_key),
        webhook_url=os.environ.get("GATEWAY_WEBHOOK_URL", defaults.webhook_url),
        webhook_signing_key=os.environ.get("GATEWAY_WEBHOOK_SIGNING_KEY",
                                           defaults.webhook_signing_key),
        timeout_hold_seconds=float(os.environ.get("GATEWAY_SIM_TIMEOUT_HOLD_SECONDS",
                                                  defaults.timeout_hold_seconds)),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m billing_simulators.gateway")
    parser.add_argument("--host", default=os.environ.get("GATEWAY_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_SIM_PORT", "9103")))
    parser.add_argument("--data-dir", default=os.environ.get("GATEWAY_SIM_DATA_DIR"),
                        help="keep the state in this folder across restarts (default: in memory only)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = config_from_env()
    # Bind before logging, so "ready" is true when it is printed (port 0 works too).
    sock = socket.create_server((args.host, args.port))
    host, port = sock.getsockname()[:2]
    log.info("gateway simulator ready on http://%s:%s (webhooks to %s)",
             host, port, config.webhook_url)
    # A short shutdown grace: a held tok_visa_timeout request must not delay `make down`.
    web.run_app(create_app(config, data_dir=args.data_dir), sock=sock, print=None, access_log=None,
                shutdown_timeout=1.0)


if __name__ == "__main__":
    main()
