"""Where the devstack keeps its things: all under the repository, all ignored by git."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache"
RUN = ROOT / ".run"
KAFKA_LIBS = CACHE / "kafka" / "libs"
KAFKA_POM = ROOT / "deploy" / "kafka" / "pom.xml"
