"""aiohttp helpers: the contract's error body, bearer auth and roles, health, metrics, OpenAPI."""
