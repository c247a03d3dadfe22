"""`python -m billing_payments`: the payments service process."""
from billing_shared.runtime import run_service

from billing_payments.bootstrap import build_app
from billing_payments.config import PaymentsSettings


def main() -> None:
    run_service("payments", PaymentsSettings(), build_app)


if __name__ == "__main__":
    main()
