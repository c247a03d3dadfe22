"""One module per command group; each registers its commands on the Typer app it is given."""
from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout, for scripts.")]
