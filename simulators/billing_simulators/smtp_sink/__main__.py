"""`python -m billing_simulators.smtp_sink [--smtp-port 1025] [--http-port 9104] [--host 127.0.0.1]`."""

from __future__ import annotations

import argparse
import logging
import os

from aiohttp import web

from .app import SMTP_LISTENER, create_app

log = logging.getLogger("billing_simulators.smtp_sink")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("SMTP_SINK_HOST", "127.0.0.1"))
    parser.add_argument("--smtp-port", type=int, default=int(os.environ.get("SMTP_SINK_PORT", "1025")))
    parser.add_argument(
        "--http-port", type=int, default=int(os.environ.get("SMTP_SINK_HTTP_PORT", "9104"))
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command
    app = create_app(args.host, args.smtp_port)

    async def announce(app: web.Application) -> None:
        log.info(
            "smtp sink ready: smtp://%s:%d, messages at http://%s:%d/_sim/messages",
            args.host, app[SMTP_LISTENER].port, args.host, args.http_port,
        )

    app.on_startup.append(announce)
    web.run_app(app, host=args.host, port=args.http_port, print=None, access_log=None)


if __name__ == "__main__":
    main()
