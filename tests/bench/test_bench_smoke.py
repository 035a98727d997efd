"""The benchmark harness (bench/run.py) at its smoke size: it runs every step end to end and
writes every figure, and the engine agrees with the notebook baseline.

It never judges a timing: a slow or busy machine makes the figures worse, not the test red.
The size is the smallest that still exercises everything (an estimation window before each
event, both anchors, the real CLI's next-day run), so the whole run stays under a minute on
two cores; ``--overlap`` runs the marts step beside the CLI run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ["--securities", "30", "--years", "3", "--events", "6", "--baseline-events", "3",
         "--overlap"]
#: The figures results.json must name (null allowed only where the engine cannot yet).
KEYS = (
    "backfill.wall_s", "backfill.peak_rss_mb", "backfill.rows_per_s",
    "incremental.wall_s", "incremental.peak_rss_mb",
    "marts.wall_s", "marts.peak_rss_mb", "marts_all_models.wall_s",
    "baseline.ratio", "baseline.max_abs_diff",
)
MAY_BE_NULL = {"marts_all_models.wall_s"}
STAGES = ("extract", "conform", "validate", "load", "news", "marts", "publish", "report")


@pytest.mark.slow
def test_reduced_benchmark_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)  # the CLI run starts its own temporary API, as measured
    env.setdefault("PREFECT_HOME", str(ROOT / "data" / "prefect"))
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), *SMOKE, "--work",
         str(tmp_path / "work"), "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540,
    )
    took = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    print(proc.stdout)
    print(f"smoke benchmark took {took:.1f} s")

    flat = json.loads(out.read_text())
    for key in KEYS:
        assert key in flat, key
        if key not in MAY_BE_NULL:
            assert flat[key] is not None, key
    for stage in STAGES:
        for figure in ("s", "rows", "rows_per_s"):
            assert flat[f"backfill.stage.{stage}.{figure}"] is not None, (stage, figure)
    assert flat["baseline.max_abs_diff"] < 1e-9
    assert flat["baseline.null_mismatches"] == 0
    assert flat["baseline.values_compared"] > 0
    assert flat["incremental.status"] == "success"
    # one new session per security: every venue of the universe trades that day
    assert flat["incremental.new_sessions"] == flat["generate.securities"] == 30
    # the CLI read the generated universe (the shipped one has 80 securities)
    assert flat["incremental.dim_security_rows"] == 30
    assert flat["marts.studies"] > 6  # both anchors for some events
    table = [line for line in proc.stdout.splitlines() if not line.startswith("results: ")]
    assert all(len(line) <= 100 for line in table)  # readable in a 100-column terminal
