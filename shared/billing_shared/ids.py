"""Ids are `<source>:<external id>` everywhere (CONTRACT.md)."""


def make_id(source: str, external_id: object) -> str:
    return f"{source}:{external_id}"
