"""The bench's runner: a peer's cell gets its CPU row from the process CPU time of its run."""

from __future__ import annotations

import time

from bench.__main__ import with_cpu
from bench.model import WORKLOADS_BY_NAME, Result


def _burn(seconds: float) -> Result:
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass
    return Result({"steps_per_s": 1.0})


def test_a_peer_s_cpu_row_is_its_run_s_cpu_time_per_unit() -> None:
    workload = WORKLOADS_BY_NAME["chain10_serial"]  # 10 steps a run: 30 runs -> 300 steps
    result = with_cpu(workload, {"runs": 30}, lambda: _burn(0.03))
    # At least 30 ms of CPU over 300 steps: 0.1 ms per step or more.
    assert result.values["cpu_ms"] >= 0.1 and result.values["steps_per_s"] == 1.0


def test_an_n_a_cell_gets_no_cpu_row() -> None:
    result = with_cpu(WORKLOADS_BY_NAME["entity_signals"], {"signals": 10}, lambda: Result.not_available("x"))
    assert "cpu_ms" not in result.values and result.na == "x"
