"""Recorded share counts and FX from a snapshot folder; the real snapshot has neither."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from sources.base import EXTRACT_STATUS, SourceError
from sources.reference import RAW_FX, RAW_SHARES, ReferenceSource
from sources.snapshot_reference import SnapshotReferenceSource, read_dated_csv

FETCHED_AT = datetime(2025, 2, 1, 22, 0, tzinfo=UTC)


def write(folder: Path, relative: str, text: str) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path, "NVDA.csv", "date,open,high,low,close,volume\n2025-01-24,1,1,1,1,1\n")
    write(
        tmp_path,
        "shares/NVDA.csv",
        "date,shares_outstanding\n2024-08-29,24530000896\n2024-11-21,24490000384\n"
        "2025-02-27,24399998976\n",
    )
    write(tmp_path, "fx/JPY.csv", "date,usd_per_unit\n2025-01-24,0.006409\n2025-01-27,0.006439\n")
    return tmp_path


def source(folder: Path) -> SnapshotReferenceSource:
    return SnapshotReferenceSource(folder, clock=lambda: FETCHED_AT)


def test_reads_share_counts_and_rates_in_range(folder: Path):
    src: ReferenceSource = source(folder)

    shares = src.shares(["NVDA"], date(2024, 1, 1), date(2025, 1, 31))
    fx = src.fx(["JPY", "USD"], date(2025, 1, 1), date(2025, 1, 31))

    assert shares.frame.schema == pl.Schema(RAW_SHARES)
    assert shares.frame.select("as_of_date", "shares_outstanding").rows() == [
        (date(2024, 8, 29), 24530000896.0),
        (date(2024, 11, 21), 24490000384.0),
    ]
    assert set(shares.frame["source"]) == {"snapshot"}
    assert set(shares.frame["fetched_at"]) == {FETCHED_AT}
    assert shares.status.schema == pl.Schema(EXTRACT_STATUS)
    assert shares.status.to_dicts() == [
        {"ticker": "NVDA", "source": "snapshot.shares", "status": "ok", "rows": 2, "message": ""}
    ]
    assert fx.frame.schema == pl.Schema(RAW_FX)
    assert fx.frame.select("currency", "session_date", "usd_per_unit").rows() == [
        ("JPY", date(2025, 1, 24), 0.006409),
        ("JPY", date(2025, 1, 27), 0.006439),
    ]
    assert fx.status["source"].to_list() == ["snapshot.fx"]  # USD is never looked up


def test_missing_files_mean_unknown_not_an_error(folder: Path):
    src = source(folder)

    shares = src.shares(["AMD", "NVDA"], date(2024, 1, 1), date(2025, 1, 31))
    fx = src.fx(["KRW"], date(2025, 1, 1), date(2025, 1, 31))
    late = src.shares(["NVDA"], date(2025, 3, 1), date(2025, 3, 31))

    amd = shares.status.row(0, named=True)
    assert (amd["ticker"], amd["status"], amd["rows"]) == ("AMD", "empty", 0)
    assert amd["message"] == "no file shares/AMD.csv in snapshot: share count unknown"
    assert shares.frame["ticker"].unique().to_list() == ["NVDA"]
    assert fx.frame.height == 0 and fx.frame.schema == pl.Schema(RAW_FX)
    assert fx.status.row(0, named=True)["message"] == "no file fx/KRW.csv in snapshot: rate unknown"
    assert late.status.row(0, named=True)["status"] == "empty"


def test_real_snapshot_reference_is_read_where_present_and_empty_where_absent(
        snapshot_dir: Path):
    """What holds on any honest recording: a file that is there is read (positive counts,
    rates inside the window), one that is not is an 'empty' status naming it."""
    src = SnapshotReferenceSource(snapshot_dir)
    tickers = ["NVDA", "TSM", "2330.TW", "NOFILE"]
    ccys = ["JPY", "KRW", "TWD", "HKD", "CNY", "EUR", "XXX"]
    shares = src.shares(tickers, date(2018, 1, 1), date(2025, 12, 31))
    fx = src.fx(ccys, date(2018, 1, 1), date(2025, 12, 31))

    for result, keys, folder in ((shares, tickers, "shares"), (fx, ccys, "fx")):
        status = dict(result.status.select(result.status.columns[0], "status").iter_rows())
        assert set(status) == set(keys)
        for k in keys:
            present = (snapshot_dir / folder / f"{k}.csv").is_file()
            assert status[k] == ("ok" if present else "empty"), k
            got = result.frame.filter(pl.col(result.frame.columns[0]) == k).height
            assert (got > 0) == present, k
    assert (shares.frame["shares_outstanding"] > 0).all()
    day = shares.frame["as_of_date"]
    assert day.min() >= date(2018, 1, 1) and day.max() <= date(2025, 12, 31)
    assert (fx.frame["usd_per_unit"] > 0).all()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("date,shares_outstanding\n2024-08-29,24530000896\n2024-11-21,lots\n",
         "line 3: column 'shares_outstanding' has unparseable value 'lots'"),
        ("date,shares_outstanding\n2024-13-01,1\n",
         "line 2: column 'date' has unparseable value '2024-13-01'"),
        ("date,count\n2024-08-29,1\n", "missing column(s) shares_outstanding"),
        ("date,shares_outstanding\n", "empty file (no data rows)"),
    ],
)
def test_malformed_file_is_one_line_naming_file_and_line(folder: Path, text: str, message: str):
    path = write(folder, "shares/AMD.csv", text)

    with pytest.raises(SourceError) as caught:
        source(folder).shares(["AMD"], date(2024, 1, 1), date(2025, 1, 31))

    assert str(caught.value) == f"{path}: {message}"
    assert "\n" not in str(caught.value)


def test_empty_cell_is_a_missing_value(tmp_path: Path):
    path = write(tmp_path, "fx/EUR.csv", "date,usd_per_unit\n2025-01-24,\n2025-01-27,1.0456\n")
    frame = read_dated_csv(path, "usd_per_unit", "session_date")
    assert frame.rows() == [(date(2025, 1, 24), None), (date(2025, 1, 27), 1.0456)]


def test_folder_must_exist(tmp_path: Path):
    with pytest.raises(SourceError, match="snapshot folder not found"):
        SnapshotReferenceSource(tmp_path / "nope")
