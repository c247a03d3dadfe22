"""A BNG/NMI-shaped payment gateway: transact.php, query.php, signed webhooks.

Plus a /_sim/ control surface for the demo and the tests (CONTRACT.md).
"""

from .app import create_app
from .config import GatewaySimConfig

__all__ = ["GatewaySimConfig", "create_app"]
