"""Text rules shared by the HTTP edge and the topics: Postgres stores no NUL character in text or jsonb."""
from __future__ import annotations

import re
from typing import Any

# C0 controls and DEL: never part of an id, a name, a key or a URL.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def holds_nul(value: Any) -> bool:
    """Whether any string in a JSON-shaped value (keys included) holds a NUL character."""
    stack = [value]  # a loop, not recursion: the value may nest as deep as its parser allowed
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False
