"""The backfill on a local Dask cluster (two worker processes) builds the same warehouse as with
threads: extraction and validation, and the reaction marts (in batches of events), run on the
workers; loading stays on the flow's writer."""

from __future__ import annotations

from datetime import date

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

distributed = pytest.importorskip("distributed", reason="prefect-dask is not installed")
pytest.importorskip("prefect_dask", reason="prefect-dask is not installed")

#: The whole demo universe over 18 months: 4 ticker batches x 2 windows = 8 chunks.
BACKFILL = {"start": date(2024, 1, 1), "end": date(2025, 6, 30), "source": "demo",
            "batch_size": 20, "chunk_days": 365, "max_concurrent": 2, "publish": False}
#: Columns that name the run or the wall-clock instant, not the data.
RUN_COLUMNS = ("run_id", "fetched_at", "quarantined_at")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local


def content(path: str) -> dict:
    from warehouse.connection import connect_read_only, table_checksums

    con = connect_read_only(path)
    try:
        sums = table_checksums(con, ("raw", "core", "marts"), ignore=RUN_COLUMNS)
        audit = table_checksums(con, ("audit",), ignore=RUN_COLUMNS)
        return sums | {t: audit[t] for t in ("audit.quarantine", "audit.validation_result",
                                             "audit.extract_status")}
    finally:
        con.close()


def test_dask_backfill_equals_threads_backfill(tmp_path, cluster):
    from flows.backfill import backfill

    threads = str(tmp_path / "threads.duckdb")
    by_threads = backfill(warehouse=threads, task_runner="threads", **BACKFILL)
    assert (by_threads.status, by_threads.loaded) == ("success", 8)

    on_dask = str(tmp_path / "dask.duckdb")
    client = distributed.Client(cluster.scheduler_address)
    try:
        with distributed.get_task_stream(client=client) as stream:
            by_dask = backfill(warehouse=on_dask, task_runner="dask",
                               dask_address=cluster.scheduler_address, **BACKFILL)
        workers = {event["worker"] for event in stream.data}
    finally:
        client.close()
    assert (by_dask.status, by_dask.loaded) == ("success", 8)
    # every chunk's extraction, and the marts in 2 x max_concurrent batches of events
    marts_batches = 2 * BACKFILL["max_concurrent"]
    assert len(stream.data) == 8 + marts_batches, "extraction and marts ran on the cluster"
    assert workers <= set(cluster.scheduler_info["workers"])

    assert by_dask.counts == by_threads.counts
    a, b = content(threads), content(on_dask)
    assert a.keys() == b.keys()
    assert a["marts.event_reaction"][0] > 0 and a["marts.event_segment_summary"][0] > 0
    different = {t for t in a if a[t] != b[t]}
    assert not different, f"tables differ between threads and Dask: {sorted(different)}"
    assert a["core.fact_price_daily"][0] > 20_000
