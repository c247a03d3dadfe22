"""A single-node KRaft Apache Kafka broker, from the Maven Central jars in .cache/kafka/libs.

Readiness is an admin call that succeeds (describe_cluster), not an open port: a broker can accept
connections while it is still fenced.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from .paths import KAFKA_LIBS, KAFKA_POM

CLUSTER_ID = "4L6g3nShT-eMCtK--X86sw"

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
auto.create.topics.enable=false
"""

LOG4J2 = """\
status=warn
appender.c.type=Console
appender.c.name=c
appender.c.layout.type=PatternLayout
appender.c.layout.pattern=[%d] %p %m (%c)%n
rootLogger=INFO, c
logger.o.name=org.apache.kafka
logger.o.level=WARN
"""


def ensure_jars() -> None:
    """Fetch the broker's jars once (make does this too; here for direct use of the module)."""
    if any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        return
    subprocess.run(
        ["mvn", "-B", "-q", "-f", str(KAFKA_POM),
         "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
         "-DincludeScope=runtime", f"-DoutputDirectory={KAFKA_LIBS}"],
        check=True,
    )


@dataclass
class KafkaBroker:
    home: Path  # config, data and log live here
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512m"
    fast_start: bool = False  # tests: serial GC and C1 only, which start faster on 2 cores

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    def _java(self, main: str, *args: str) -> list[str]:
        gc = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"] if self.fast_start else ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
        java = shutil.which("java") or "java"
        return [
            java, f"-Xms{self.heap}", f"-Xmx{self.heap}", *gc, "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            "-cp", f"{KAFKA_LIBS}/*", main, *args,
        ]

    def format(self) -> None:
        ensure_jars()
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        (self.home / "server.properties").write_text(SERVER_PROPERTIES.format(
            port=self.port, controller_port=self.controller_port, data_dir=self.home / "data"))
        (self.home / "log4j2.properties").write_text(LOG4J2)
        subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "--cluster-id", CLUSTER_ID,
                       "--config", str(self.home / "server.properties"), "--standalone", "--ignore-formatted"),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120,
        )

    def start(self) -> subprocess.Popen[bytes]:
        """Format (idempotent) and start the broker in its own session; returns the process."""
        self.format()
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child process
        return subprocess.Popen(
            self._java("kafka.Kafka", str(self.home / "server.properties")),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ},
        )


async def wait_until_ready(bootstrap: str, timeout: float = 90.0, process: subprocess.Popen[bytes] | None = None) -> None:
    # aiokafka logs every refused connection as an error; while the broker boots, that is expected.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        await _wait(bootstrap, timeout, process)
    finally:
        logging.getLogger("aiokafka").setLevel(logging.NOTSET)


async def _wait(bootstrap: str, timeout: float, process: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Kafka broker exited with code {process.returncode}")
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            info = await admin.describe_cluster()
            if info.get("brokers"):
                return
        except Exception as exc:  # noqa: BLE001 - keep trying until the deadline
            last_error = exc
        finally:
            try:
                await admin.close()
            except Exception:  # noqa: BLE001
                pass
        await asyncio.sleep(0.5)
    raise TimeoutError(f"Kafka at {bootstrap} not ready after {timeout:.0f}s: {last_error!r}")
