"""The snapshot source on the real recordings and on broken files."""

from datetime import date

import polars as pl
import pytest

from sources.base import SourceError
from sources.snapshot import SnapshotSource


def test_reads_real_nvda_rows_unchanged(snapshot_dir):
    result = SnapshotSource(snapshot_dir).prices(["NVDA"], date(2025, 1, 24), date(2025, 1, 27))
    frame = result.frame.sort("session_date")
    assert frame["session_date"].to_list() == [date(2025, 1, 24), date(2025, 1, 27)]
    # the recorded text, independently parsed
    text = pl.read_csv(snapshot_dir / "NVDA.csv").filter(
        pl.col("date").is_in(["2025-01-24", "2025-01-27"])
    )
    assert frame["close"].to_list() == text["close"].to_list()
    assert frame["adj_close"].to_list() == text["close"].to_list()
    assert frame["volume"].to_list() == [float(v) for v in text["volume"]]
    assert set(frame["source"]) == {"snapshot"}
    assert result.status.row(0, named=True)["status"] == "ok"


def test_missing_file_is_an_empty_status_not_an_error(snapshot_dir, tmp_path):
    """A universe ticker with no file (here: one the recording cannot have) is an 'empty'
    status naming the file, never an error for the others."""
    absent = "NOFILE.T"
    assert not (snapshot_dir / f"{absent}.csv").exists()
    result = SnapshotSource(snapshot_dir).prices([absent, "NVDA"], date(2025, 1, 1),
                                                 date(2025, 2, 1))
    assert set(result.frame["ticker"]) == {"NVDA"}
    row = result.status.filter(pl.col("ticker") == absent).row(0, named=True)
    assert row["status"] == "empty" and f"{absent}.csv" in row["message"]


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(SourceError, match=f"snapshot folder not found: {tmp_path / 'nope'}"):
        SnapshotSource(tmp_path / "nope")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "empty file|unreadable CSV"),
        ("date,open,high,low,close,volume\n", "empty file"),
        ("date,open,high,low,volume\n2025-01-02,1,1,1,1\n", "missing column\\(s\\) close"),
        ("date,open,high,low,close,volume\n2025-01-02,1,1,1,1,1,9\n", "more fields"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path, body, message):
    (tmp_path / "BAD.csv").write_text(body)
    with pytest.raises(SourceError, match=message) as info:
        SnapshotSource(tmp_path).prices(["BAD"], date(2025, 1, 1), date(2025, 2, 1))
    assert "BAD.csv" in str(info.value)


def test_a_cell_that_does_not_parse_keeps_its_text_and_the_file_loads(tmp_path):
    """``abc`` or ``02/01/2025`` is a fault of its row: the value is null, ``unparsed`` keeps
    the text for the suite's ``value_unparseable``, and every other row arrives parsed."""
    (tmp_path / "BAD.csv").write_text(
        "date,open,high,low,close,volume\n2025-01-02,1,1,1,1,1\n2025-01-03,1,1,1,abc,1\n"
        "02/01/2025,1,1,1,1,1\n2025-01-06, 2 ,2,2,2,2\n")
    result = SnapshotSource(tmp_path).prices(["BAD"], date(2025, 1, 1), date(2025, 2, 1))
    got = result.frame.select("session_date", "close", "open", "unparsed").rows()
    assert got == [(date(2025, 1, 2), 1.0, 1.0, None), (date(2025, 1, 3), None, 1.0,
                                                          '{"close":"abc"}'),
                   (None, 1.0, 1.0, '{"date":"02/01/2025"}'), (date(2025, 1, 6), 2.0, 2.0, None)]
    status = result.status.row(0, named=True)
    assert (status["status"], status["rows"]) == ("ok", 4)
    assert status["message"] == ("2 row(s) with a value that does not parse: value_unparseable "
                                 "(quarantined with the text)")
