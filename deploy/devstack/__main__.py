"""`python -m devstack up|down`."""
import asyncio
import sys

from .stack import down, up


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "up"
    if command == "up":
        return asyncio.run(up())
    if command == "down":
        return down()
    print("usage: python -m devstack up|down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
