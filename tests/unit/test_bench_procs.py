"""CPU and memory accounting of process trees, read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from benchmarks.harness.procs import ProcStat, parse_stat, tree_cpu_seconds, tree_memory, tree_of


def test_parse_stat_survives_spaces_and_parens_in_the_command_name() -> None:
    line = ("4242 (we ird) (name)) S 17 4242 4242 0 -1 4194560 100 0 0 0 "
            "250 75 4 6 20 0 1 0 123 4096 200 18446744073709551615")
    assert parse_stat(line) == ProcStat(pid=4242, ppid=17, ticks=250 + 75 + 4 + 6)


def test_tree_includes_grandchildren_and_nothing_else() -> None:
    stats = {s.pid: s for s in (
        ProcStat(1, 0, 0), ProcStat(10, 1, 5), ProcStat(11, 10, 7), ProcStat(12, 11, 1),
        ProcStat(20, 1, 100),
    )}
    assert sorted(s.pid for s in tree_of(10, stats)) == [10, 11, 12]


def test_cpu_of_a_grandchild_is_charged_to_the_tree() -> None:
    burn = "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass\n" \
           "import sys; sys.stdin.read()"
    # The parent only waits; all CPU is burnt by its child.
    parent = subprocess.Popen(
        [sys.executable, "-c",
         f"import subprocess,sys; subprocess.run([sys.executable,'-c',{burn!r}])"],
        stdin=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while tree_cpu_seconds(parent.pid) < 0.3:
            assert time.monotonic() < deadline, "the child's CPU never showed up in the tree"
            time.sleep(0.05)
        assert tree_memory(parent.pid).rss_bytes > tree_memory(os.getpid()).rss_bytes // 100
    finally:
        assert parent.stdin is not None
        parent.stdin.close()
        parent.wait(10)
