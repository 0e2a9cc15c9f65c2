"""The bench's table with an Azurite column: per-store cells, capped sizes footnoted, requests/step rows, the
emulator's ceiling under the floors, and the JSON's Azurite section."""

from __future__ import annotations

import re

from bench.azurite_rate import RawRate
from bench.model import WORKLOADS_BY_NAME, Result
from bench.report import AzuriteFigures, System, WorkloadRun, build_json, render_table

FLOORS = {
    "fsync": {"p50_ms": 0.2, "p99_ms": 0.4, "samples": 200},
    "sqlite_wal_commit_full": {"p50_ms": 0.25, "p99_ms": 0.5, "samples": 200},
}
OURS = [System("ours", "ours (embedded)", "embedded"), System("ours", "ours (Azurite)", "azurite")]
PEER = System("dbos", "DBOS", "sqlite", "3.4.0")
RAW = [RawRate("queue put_message", 8, 3.0, 1500, 10.0, 20.0, 0.8, 0.5)]


def chain_run() -> WorkloadRun:
    workload = WORKLOADS_BY_NAME["chain10_concurrent"]
    run = WorkloadRun(workload, workload.params(quick=False))
    run.ours["embedded"] = Result({"steps_per_s": 400.0, "seconds": 7.5})
    run.ours["azurite"] = Result({"steps_per_s": 20.0, "seconds": 50.0, "requests_per_step": 16.0})
    run.ours_params["azurite"] = workload.params(quick=False, azurite=True)
    run.peers["dbos"] = Result({"steps_per_s": 200.0, "seconds": 15.0})
    return run


def test_azurite_sizes_are_capped_unless_set_explicitly() -> None:
    workload = WORKLOADS_BY_NAME["chain10_concurrent"]
    assert workload.params(quick=False, azurite=True) == {"instances": 100}
    assert workload.params(quick=True, azurite=True) == {"instances": 50}
    assert workload.params(quick=False, overrides={"instances": 300}, azurite=True) == {"instances": 300}


def test_the_table_has_a_column_per_store_and_the_emulator_ceiling() -> None:
    table = render_table([chain_run()], OURS, [PEER], FLOORS, AzuriteFigures("3.35.0", RAW))
    lines = table.splitlines()

    assert re.split(r"\s{2,}", lines[0])[:4] == ["workload", "figure", "ours (embedded)", "ours (Azurite)"]
    steps = next(line for line in lines if "steps/s" in line and "chain10" in line).split()
    assert steps[-7:] == ["400", "20.0", "[1]", "200", "2.00", "2.0x", "faster"]  # ratio: embedded / DBOS
    assert next(line for line in lines if "requests/step" in line).split() == ["requests/step", "16.0"]
    assert "[1] ours (Azurite) ran instances=100: the full size takes over ~60 s on Azurite" in lines
    assert "at 16.0 requests/step (chain10_concurrent), a ceiling of 31 steps/s" in table


def test_an_azurite_that_did_not_start_leaves_n_a_cells_and_says_why() -> None:
    run = chain_run()
    run.ours["azurite"] = Result.not_available("ours (Azurite): Azurite is not installed")
    table = render_table([run], OURS, [PEER], FLOORS, AzuriteFigures(None, error="not installed"))

    assert "n/a [1]" in table
    assert "[1] ours (Azurite): Azurite is not installed" in table
    assert "Azurite: n/a: not installed" in table


def test_the_json_keeps_each_store_s_sizes_and_the_azurite_figures() -> None:
    document = build_json([chain_run()], OURS, [PEER], FLOORS, {}, AzuriteFigures("3.35.0", RAW))

    results = {r["store"]: r for r in document["workloads"][0]["results"]}
    assert results["azurite"]["params"] == {"instances": 100}
    assert results["embedded"]["params"] == {"instances": 300}
    azurite = document["azurite"]
    assert azurite["raw_rates"][0]["requests_per_s"] == 500.0
    assert azurite["requests_per_step"] == {"chain10_concurrent": 16.0}
    assert azurite["ceiling"]["steps_per_s_by_operation"] == {"queue put_message": 31.25}


def test_the_cpu_row_compares_process_cpu_per_unit_with_the_peers() -> None:
    run = chain_run()
    run.ours["embedded"].values["cpu_ms"] = 1.0
    run.peers["dbos"].values["cpu_ms"] = 4.0
    lines = render_table([run], OURS, [PEER], FLOORS, AzuriteFigures("3.35.0", RAW)).splitlines()

    cpu = next(line for line in lines if "CPU ms/step" in line).split()
    assert cpu[-5:] == ["1.00", "4.00", "0.25", "4.0x", "faster"]  # less CPU per step is better
    document = build_json([run], OURS, [PEER], FLOORS, {}, None)
    ratios = {(r["peer"], r["metric"]): r for r in document["workloads"][0]["ratios"]}
    assert ratios[("dbos", "cpu_ms")]["ratio"] == 0.25 and ratios[("dbos", "cpu_ms")]["ours_better"]
