"""The session's broker and database are stopped after the last test, never inside its timeout: a slow
disk at teardown must not turn a green suite red."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Infra

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]

SLOW_TEARDOWN_CONFTEST = """
import time
from tests import conftest as outer
from tests.conftest import *  # noqa: F401,F403  the project's hooks and fixtures

_stop = outer._Servers.stop


def _slow_stop(self):
    time.sleep(3)  # a slow disk removing the broker's and the database's data
    _stop(self)


outer._Servers.stop = _slow_stop
"""

QUICK_TEST = """
import pytest


@pytest.mark.timeout(1)
def test_the_last_test_of_the_session(infra):
    assert infra.kafka_bootstrap
"""


def test_a_slow_session_teardown_does_not_count_against_the_last_test(
        pytester: pytest.Pytester, infra: Infra, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.kafka_bootstrap)
    monkeypatch.setenv("DATABASE_URL", infra.postgres_admin_url)
    pytester.makeconftest(SLOW_TEARDOWN_CONFTEST)
    pytester.makepyfile(test_last=QUICK_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1, errors=0)
