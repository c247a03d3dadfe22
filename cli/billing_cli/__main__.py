"""`python -m billing_cli`, the same as the `billing-link` console script."""
from billing_cli.app import main

main()
