"""The system benchmark's CPU table reads /proc/<pid>/stat: a command name with spaces and parentheses
must not shift the fields, and a process tree (Postgres' backends) counts its live members plus what
the root reaped, never a child twice."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(10)

_SPEC = importlib.util.spec_from_file_location("bench_system", Path(__file__).parents[2] / "bench" / "system.py")
assert _SPEC and _SPEC.loader
system = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = system  # its dataclasses look their module up
_SPEC.loader.exec_module(system)


def stat_line(pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0) -> str:
    # fields 1..17 as the kernel writes them; the rest (18..52) do not matter here
    head = f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 100 0 0 0 {utime} {stime} {cutime} {cstime}"
    return head + " 20 0 1 0 12345 1000000 200 18446744073709551615" + " 0" * 30 + "\n"


def test_fields_count_from_the_last_parenthesis_of_the_command_name():
    line = stat_line(42, "postgres: walwriter ) (x", ppid=7, utime=150, stime=25, cutime=9, cstime=1)

    assert system.parse_stat(line) == (7, 175, 10)


def test_a_tree_counts_live_descendants_and_what_the_root_reaped_once():
    stats = {
        100: (1, 50, 30),   # the postmaster: 50 own ticks, 30 of backends that exited and were reaped
        101: (100, 200, 0),  # a backend
        102: (100, 20, 0),   # the checkpointer
        103: (102, 5, 0),    # a grandchild
        200: (1, 999, 0),    # someone else's process
    }

    assert system.tree_ticks(100, stats) == 50 + 30 + 200 + 20 + 5
    assert system.tree_ticks(100, stats, with_children=False) == 50
    assert system.tree_ticks(999, stats) == 0  # gone: nothing, not an error


def test_this_process_is_read_from_proc_with_its_parent():
    stats = system.read_stats()

    assert stats[os.getpid()][0] == os.getppid()
    assert stats[os.getpid()][1] > 0


def test_peak_rss_is_the_high_water_mark_in_megabytes_and_none_for_a_process_gone(tmp_path):
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "status").write_text("Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  102400 kB\nVmRSS:\t   51200 kB\n")
    assert system.peak_rss_mb(42, tmp_path) == 100.0
    assert system.peak_rss_mb(43, tmp_path) is None
    assert system.peak_rss_mb(os.getpid()) > 1  # this very process, read from the real /proc
