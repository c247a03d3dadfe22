"""The payments service: the ledger, the gateway, the wallet, processing settings, gateway webhooks."""
