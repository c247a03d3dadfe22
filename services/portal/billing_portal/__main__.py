"""`python -m billing_portal`: the portal process."""
from billing_shared.runtime import run_service

from billing_portal.bootstrap import build_app
from billing_portal.config import PortalSettings


def main() -> None:
    run_service("portal", PortalSettings(), build_app)


if __name__ == "__main__":
    main()
