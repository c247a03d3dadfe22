from billing_shared.settings import ServiceSettings


class PaymentsSettings(ServiceSettings):
    http_port: int = 8082
