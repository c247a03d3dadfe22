"""Ids are `<source>:<external id>` everywhere (CONTRACT.md)."""


def make_id(source: str, external_id: object) -> str:
    return f"{source}:{external_id}"


def split_id(value: str) -> tuple[str, str]:
    source, sep, external = value.partition(":")
    if not sep or not source or not external:
        raise ValueError(f"not a <source>:<external id> id: {value!r}")
    return source, external
