"""Bad snapshot CSV files (the ``../shared/market-snapshot`` format) read by the real
``SnapshotSource``, then conformed, validated and loaded as a run does (see conftest).

A file the source cannot read -- undecodable bytes, missing columns, a row with more fields
than the header, no data rows -- refuses the whole extract with one ``SourceError`` naming the
file, even though a clean file sits next to it: nothing is loaded, so nothing good is
half-loaded either (``tests/e2e/test_bad_input.py`` proves the warehouse is then left as it
was). A cell that has text but no value (``N/A``, ``abc``, ``2025-13-01``) is a fault of its
row only: the row is quarantined as ``value_unparseable`` with the text kept, and the rest of
the file loads. Files it can read are loaded row by row; these cases share one folder (one
file per case, each under its own ticker, plus the clean IBM.csv) and one run, and each
asserts its spoiled rows' exact fate and that every other row of its file -- and all of
IBM.csv -- was loaded unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl
import pytest

from sources.base import SourceError
from sources.snapshot import SnapshotSource

HEADER = "date,open,high,low,close,volume"
SPOILED_DAY = date(2025, 1, 23)  # the third line of every case file
START, END = date(2025, 1, 21), date(2025, 1, 31)


def lines(kit, ticker="NVDA", start=140.0) -> list[str]:
    return [
        f"{r['session_date']},{r['open']},{r['high']},{r['low']},{r['close']},{r['volume']:.0f}"
        for r in kit.good_week(ticker=ticker, start=start)
    ]


@dataclass(frozen=True)
class Case:
    id: str
    #: good data lines (without header) -> the file's bytes, or None for no file at all
    body: object
    #: "refused" (message), "loaded", or "quarantined" / "warned" (names) for ``day``
    fate: str
    detail: tuple[str, ...] | str = ()
    day: date | None = date(2025, 1, 23)  # None: the spoiled row's date did not parse
    copies: int = 1
    #: what the quarantined row keeps of the source's text (its ``unparsed`` JSON)
    unparsed: str | None = None


def text(*rows: str, header: str = HEADER, newline: str = "\n") -> bytes:
    return newline.join([header, *rows]).encode() + newline.encode()


def spoil(rows: list[str], index: int, line: str) -> list[str]:
    return [line if i == index else r for i, r in enumerate(rows)]


CASES = [
    Case("empty_file", lambda r: b"", "refused", "NVDA.csv: unreadable CSV (empty CSV)"),
    Case("header_only", lambda r: text(), "refused", "NVDA.csv: empty file (no data rows)"),
    Case("utf8_bom", lambda r: "\ufeff".encode() + text(*r), "loaded"),
    Case("utf16_file", lambda r: "\n".join([HEADER, *r]).encode("utf-16"), "refused",
         "NVDA.csv: missing column(s) date, open, high, low, close, volume"),
    Case("semicolon_delimiter", lambda r: text(*(x.replace(",", ";") for x in r),
                                               header=HEADER.replace(",", ";")),
         "refused", "NVDA.csv: missing column(s) date, open, high, low, close, volume"),
    Case("capitalised_header", lambda r: text(*r, header=HEADER.title()), "refused",
         "NVDA.csv: missing column(s) date, open, high, low, close, volume"),
    Case("missing_volume_column", lambda r: text(*(x.rsplit(",", 1)[0] for x in r),
                                                 header="date,open,high,low,close"),
         "refused", "NVDA.csv: missing column(s) volume"),
    Case("extra_columns", lambda r: text(*(x + ",1.0,7" for x in r),
                                         header=HEADER + ",wap,count"), "loaded"),
    Case("crlf_line_endings", lambda r: text(*r, newline="\r\n"), "loaded"),
    Case("spaces_around_numbers", lambda r: text(*(x[:11] + x[11:].replace(",", " , ")
                                                   for x in r)), "loaded"),
    Case("space_after_date", lambda r: text(*spoil(r, 0, r[0].replace(",", " ,", 1))),
         "loaded"),
    Case("unsorted_rows", lambda r: text(*reversed(r)), "loaded"),
    Case("month_13", lambda r: text(*spoil(r, 2, "2025-13-01,1,2,0.5,1.5,10")), "quarantined",
         ("session_date_null", "value_unparseable", "not_exchange_session"), day=None,
         unparsed='{"date":"2025-13-01"}'),
    Case("us_date_format", lambda r: text(*spoil(r, 2, "01/23/2025,1,2,0.5,1.5,10")),
         "quarantined", ("session_date_null", "value_unparseable", "not_exchange_session"),
         day=None, unparsed='{"date":"01/23/2025"}'),
    Case("text_in_close", lambda r: text(*spoil(r, 2, "2025-01-23,141,142,140,abc,10")),
         "quarantined", ("value_unparseable", "close_null", "adj_close_null"),
         unparsed='{"close":"abc"}'),
    Case("na_close", lambda r: text(*spoil(r, 2, "2025-01-23,141,142,140,N/A,10")),
         "quarantined", ("value_unparseable", "close_null", "adj_close_null"),
         unparsed='{"close":"N/A"}'),
    Case("null_word_in_open", lambda r: text(*spoil(r, 2, "2025-01-23,null,142,140,141.2,10")),
         "quarantined", ("value_unparseable",), unparsed='{"open":"null"}'),
    Case("thousands_separator", lambda r: text(*spoil(r, 2, '2025-01-23,141,142,140,141.2,'
                                                            '"1,000"')),
         "quarantined", ("value_unparseable", "volume_null"), unparsed='{"volume":"1,000"}'),
    Case("quote_in_cell", lambda r: text(*spoil(r, 2, '2025-01-23,141,142,140,"1""4",10')),
         "quarantined", ("value_unparseable", "close_null", "adj_close_null"),
         unparsed='{"close":"1\\"4"}'),
    Case("row_with_extra_fields", lambda r: text(*spoil(r, 2, r[2] + ",7")), "refused",
         "NVDA.csv: unreadable CSV (found more fields than defined in 'Schema')"),
    Case("undecodable_bytes", lambda r: text(*r) + b"2025-02-03,1,2,0.5,1.5,1\xff0\n",
         "refused", "NVDA.csv: unreadable CSV (invalid utf-8 sequence)"),
    Case("nan_close", lambda r: text(*spoil(r, 2, "2025-01-23,141,142,140,NaN,10")),
         "quarantined", ("close_null", "adj_close_null", "value_not_finite")),
    Case("inf_high", lambda r: text(*spoil(r, 2, "2025-01-23,141,inf,140,141.5,10")),
         "quarantined", ("value_not_finite",)),
    Case("blank_close", lambda r: text(*spoil(r, 2, "2025-01-23,141,142,140,,10")),
         "quarantined", ("close_null", "adj_close_null")),
    Case("short_row", lambda r: text(*spoil(r, 2, "2025-01-23,141,142,140")), "quarantined",
         ("close_null", "adj_close_null", "volume_null")),
    Case("duplicate_date", lambda r: text(*r, "2025-01-23,141,142,140,141.2,10"), "quarantined",
         ("duplicate_key",), copies=2),
    Case("stale_zero_volume_row", lambda r: text(*spoil(r, 2, "2025-01-23,141,141,141,141,0")),
         "warned", ("stale_price",)),
    Case("blank_open", lambda r: text(*spoil(r, 2, "2025-01-23,,142,140,141.2,10")), "loaded"),
    Case("no_file", lambda r: None, "missing"),
]


#: US listings of the universe: one file (ticker) per case that reaches the warehouse
_TICKERS = ["NVDA", "AMD", "AVGO", "INTC", "QCOM", "MU", "TXN", "AMAT", "LRCX", "KLAC", "SMCI",
            "DELL", "HPE", "ANET", "CSCO", "VST", "CEG", "NRG", "NEE", "MSFT", "GOOGL", "GOOG",
            "AMZN", "META", "ORCL", "AAPL", "PLTR", "CRM", "ADBE", "NOW"]
CLEAN = "IBM"  # the clean companion file
LOADABLE = [c for c in CASES if c.fate != "refused"]
REFUSED = [c for c in CASES if c.fate == "refused"]


def ticker_of(case: Case) -> str:
    return _TICKERS[LOADABLE.index(case)]


def _write(folder, ticker: str, body: bytes | None) -> None:
    if body is not None:
        (folder / f"{ticker}.csv").write_bytes(body)


def _clean_file(folder, kit) -> None:
    (folder / f"{CLEAN}.csv").write_text("\n".join([HEADER, *lines(kit, CLEAN)]) + "\n")


@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
def test_unreadable_file_refuses_the_extract_naming_file_line_and_column(case, kit, tmp_path):
    _write(tmp_path, "NVDA", case.body(lines(kit)))
    _clean_file(tmp_path, kit)
    source = SnapshotSource(tmp_path, clock=lambda: datetime(2025, 2, 1, tzinfo=UTC))
    with pytest.raises(SourceError) as refused:
        source.prices([CLEAN, "NVDA"], START, END)
    assert str(refused.value) == f"{tmp_path / 'NVDA.csv'}: " + case.detail.removeprefix(
        "NVDA.csv: ")


@pytest.fixture(scope="module")
def extracted(kit, load_prices, tmp_path_factory):
    """Every readable case in one folder, extracted and loaded as one run."""
    folder = tmp_path_factory.mktemp("snap")
    for case in LOADABLE:
        ticker = ticker_of(case)
        _write(folder, ticker, case.body(lines(kit, ticker)))
    _clean_file(folder, kit)
    source = SnapshotSource(folder, clock=lambda: datetime(2025, 2, 1, tzinfo=UTC))
    extract = source.prices([CLEAN, *(ticker_of(c) for c in LOADABLE)], START, END)
    return extract, load_prices(extract.frame)


def _week(kit, ticker: str) -> list[dict]:
    """The case file's good rows as they load (snapshot: adj_close is the close)."""
    return [dict(r, adj_close=r["close"]) for r in kit.good_week(ticker)]


def test_the_clean_file_arrives_whole(kit, extracted):
    _, loaded = extracted
    kit.assert_good_rows_loaded(loaded, _week(kit, CLEAN))


@pytest.mark.parametrize("case", LOADABLE, ids=[c.id for c in LOADABLE])
def test_readable_file_loads_row_by_row(case: Case, kit, extracted):
    extract, loaded = extracted
    ticker = ticker_of(case)
    status = {r["ticker"]: r for r in extract.status.to_dicts()}[ticker]
    week = _week(kit, ticker)
    mine = loaded.quarantine.filter(loaded.quarantine["row_key"].str.starts_with(f"{ticker}|"))

    if case.fate == "missing":
        assert (status["status"], status["message"]) == (
            "empty", f"no file {ticker}.csv in snapshot")
        assert loaded.core.filter(loaded.core["ticker"] == ticker).height == 0
        return
    assert status["status"] == "ok"
    if case.fate == "loaded":
        if case.id == "blank_open":
            row = loaded.core_row(ticker, case.day)
            assert row["open"] is None and row["quality_flags"] == []
            week = [r for r in week if r["session_date"] != case.day]
        kit.assert_good_rows_loaded(loaded, week)
        assert mine.height == 0
        return
    spoiled = case.day or SPOILED_DAY  # a row whose date did not parse replaced this day's
    kit.assert_good_rows_loaded(loaded, [r for r in week if r["session_date"] != spoiled])
    if case.fate == "quarantined":
        assert loaded.reasons(ticker, case.day) == [list(case.detail)] * case.copies
        assert loaded.core_row(ticker, spoiled) is None
        assert mine.height == case.copies
        kept = mine["row_json"].str.json_decode(pl.Struct({"unparsed": pl.String}))
        assert kept.struct.field("unparsed").to_list() == [case.unparsed] * case.copies
        if case.unparsed:
            assert "value_unparseable" in status["message"]
    else:  # warned
        assert loaded.core_row(ticker, case.day)["quality_flags"] == list(case.detail)
        assert mine.height == 0


def test_files_for_tickers_the_universe_does_not_list_are_named(tmp_path):
    """``ZZZZ.csv`` and ``nvda.csv`` are never loaded, and the run names them (the case-only
    mismatch with the ticker it probably meant) instead of ignoring them."""
    from flows.stages import select_tickers, unlisted_files
    from sources.snapshot import SnapshotSource
    from warehouse.seeds import read_universe

    for name in ("NVDA", "ZZZZ", "nvda"):
        (tmp_path / f"{name}.csv").write_text("date,open,high,low,close,volume\n")
    securities = read_universe()
    source = SnapshotSource(tmp_path)
    assert select_tickers(None, securities, source) == ["NVDA"]
    assert unlisted_files(securities, source) == ["ZZZZ", "nvda (did you mean NVDA?)"]


def test_rows_dated_in_the_future_are_reported_not_dropped_silently(tmp_path):
    """A row dated after the run's end and after today (tomorrow, 2031) is never loaded, and
    the ticker's extract status names it (audit.extract_status keeps the message)."""
    (tmp_path / "NVDA.csv").write_text(
        "date,open,high,low,close,volume\n"
        "2025-01-30,1,2,0.5,1.5,10\n2025-01-31,1,2,0.5,1.5,10\n"
        "2025-02-02,1,2,0.5,1.5,10\n2031-01-02,1,2,0.5,1.5,10\n")
    source = SnapshotSource(tmp_path, clock=lambda: datetime(2025, 2, 1, 22, tzinfo=UTC))
    result = source.prices(["NVDA"], date(2025, 1, 1), date(2025, 2, 1))
    assert result.frame["session_date"].to_list() == [date(2025, 1, 30), date(2025, 1, 31)]
    status = result.status.row(0, named=True)
    assert (status["status"], status["rows"]) == ("ok", 2)
    assert status["message"] == ("2 row(s) dated in the future, not loaded: date_in_future "
                                 "(2025-02-02, 2031-01-02)")
    # a past --end is a window, not a defect: later rows up to today are not reported
    past = source.prices(["NVDA"], date(2025, 1, 1), date(2025, 1, 30)).status.row(0, named=True)
    assert past["message"].startswith("2 row(s) dated in the future")
