from billing_shared.settings import ServiceSettings


class SyncSettings(ServiceSettings):
    http_port: int = 8081
