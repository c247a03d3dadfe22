"""`python -m billing_notifications`: the notifications service process."""
from billing_shared.runtime import run_service

from billing_notifications.bootstrap import build_app
from billing_notifications.config import NotificationsSettings


def main() -> None:
    run_service("notifications", NotificationsSettings(), build_app)


if __name__ == "__main__":
    main()
