from billing_shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    http_port: int = 8083
