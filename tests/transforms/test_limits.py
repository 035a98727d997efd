"""Daily price limits: each venue's rule against hand-computed limit prices, and the real
one-price bar of Merit Interactive (300766.SZ) on DeepSeek Monday."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest

from sources.snapshot import read_snapshot_csv
from transforms.limits import LIMIT_COLUMNS, limit_flags
from warehouse.seeds import read_universe

VENUES = {  # ticker -> (exchange_mic, kind)
    "600000.SS": ("XSHG", "equity"), "300001.SZ": ("XSHE", "equity"),
    "688001.SS": ("XSHG", "equity"), "005930.KS": ("XKRX", "equity"),
    "2330.TW": ("XTAI", "equity"), "8035.T": ("XTKS", "equity"),
    "NVDA": ("XNAS", "equity"), "399001.SZ": ("XSHE", "index"),
}


def _securities() -> pl.DataFrame:
    return pl.DataFrame({"ticker": list(VENUES), "exchange_mic": [v[0] for v in VENUES.values()],
                         "kind": [v[1] for v in VENUES.values()]})


def _bars(ticker: str, prev: float, bar: tuple[float, float, float, float]) -> pl.DataFrame:
    o, h, lo, c = bar
    return pl.DataFrame({
        "ticker": ticker, "session_date": [date(2025, 1, 24), date(2025, 1, 27)],
        "open": [prev, o], "high": [prev, h], "low": [prev, lo], "close": [prev, c],
    }).with_columns(pl.col("open", "high", "low", "close").cast(pl.Float64))


def _cn(prev: float, pct: float) -> tuple[float, float]:
    """China's limit prices by hand: previous close x (1 +- pct), rounded half up to 0.01."""
    cent = Decimal("0.01")
    up = (Decimal(str(prev)) * (1 + Decimal(str(pct)))).quantize(cent, ROUND_HALF_UP)
    down = (Decimal(str(prev)) * (1 - Decimal(str(pct)))).quantize(cent, ROUND_HALF_UP)
    return float(up), float(down)


# (ticker, previous close, the bar, expected limit_pct, up price, down price, hit, one price)
CASES = [
    # SSE main board, +-10 %: 12.35 -> 13.585 rounds half up to 13.59, 11.115 to 11.12
    ("600000.SS", 12.35, (13.59, 13.59, 13.59, 13.59), 0.10, *_cn(12.35, 0.10), "up", True),
    ("600000.SS", 12.35, (12.0, 12.3, 11.12, 11.12), 0.10, *_cn(12.35, 0.10), "down", False),
    # one cent short of the limit is not at it
    ("600000.SS", 12.35, (13.0, 13.58, 13.0, 13.58), 0.10, *_cn(12.35, 0.10), None, False),
    # ChiNext and STAR, +-20 %
    ("300001.SZ", 20.08, (24.1, 24.1, 24.1, 24.1), 0.20, *_cn(20.08, 0.20), "up", True),
    ("688001.SS", 50.0, (45.0, 46.0, 40.0, 40.0), 0.20, *_cn(50.0, 0.20), "down", False),
    # KRX +-30 %, rounded inside the limit to the tick of the limit price:
    # 61,700 x 1.3 = 80,210 -> tick 100 -> 80,200; x 0.7 = 43,190 -> tick 50 -> 43,200
    ("005930.KS", 61_700, (80_200, 80_200, 80_200, 80_200), 0.30, 80_200, 43_200, "up", True),
    # TWSE +-10 %: 1,065 x 1.1 = 1,171.5 -> tick 5 -> 1,170; x 0.9 = 958.5 -> tick 1 -> 959
    ("2330.TW", 1_065, (980, 985, 959, 959), 0.10, 1_170, 959, "down", False),
    # Tokyo: a previous close of 21,000 yen (20,000..30,000) has a 5,000-yen band
    ("8035.T", 21_000, (26_000, 26_000, 26_000, 26_000), 5_000 / 21_000, 26_000, 16_000, "up",
     True),
    # no limits: a US equity and a Chinese index
    ("NVDA", 142.62, (118.42, 118.42, 118.42, 118.42), None, None, None, None, False),
    ("399001.SZ", 10_000, (8_000, 8_000, 8_000, 8_000), None, None, None, None, False),
]


@pytest.mark.parametrize(("ticker", "prev", "bar", "pct", "up", "down", "hit", "one"), CASES)
def test_limit_by_venue(ticker, prev, bar, pct, up, down, hit, one):
    out = limit_flags(_bars(ticker, prev, bar), _securities())
    assert set(LIMIT_COLUMNS) <= set(out.columns) and out.height == 2
    first, row = out.row(0, named=True), out.row(1, named=True)
    assert first["limit_hit"] is None and first["one_price"] is False  # nothing before it
    assert row["limit_pct"] == (None if pct is None else pytest.approx(pct))
    assert row["limit_up_price"] == (None if up is None else pytest.approx(up, abs=1e-9))
    assert row["limit_down_price"] == (None if down is None else pytest.approx(down, abs=1e-9))
    assert (row["limit_hit"], row["one_price"]) == (hit, one)


def test_rows_keep_their_order_and_tickers_do_not_mix():
    a = _bars("600000.SS", 10.0, (11.0, 11.0, 11.0, 11.0))
    b = _bars("NVDA", 10.0, (11.0, 11.0, 11.0, 11.0))
    frame = pl.concat([a, b]).reverse()
    out = limit_flags(frame, _securities())
    assert out.select("ticker", "session_date").equals(frame.select("ticker", "session_date"))
    hits = dict(out.filter(pl.col("session_date") == date(2025, 1, 27))
                .select("ticker", "limit_hit").iter_rows())
    assert hits == {"600000.SS": "up", "NVDA": None}


def test_merit_interactive_locked_limit_up_on_deepseek_monday(snapshot_dir):
    """The real case: 300766.SZ (ChiNext) closed 20.08 on Friday and traded only at 24.10
    (20.08 x 1.2 = 24.096, rounded to the cent) on 2025-01-27."""
    bars = read_snapshot_csv(snapshot_dir / "300766.SZ.csv").with_columns(
        ticker=pl.lit("300766.SZ"))
    out = limit_flags(bars.select("ticker", "session_date", "open", "high", "low", "close"),
                      read_universe())
    day = out.filter(pl.col("session_date") == date(2025, 1, 27)).row(0, named=True)
    prev = out.filter(pl.col("session_date") < date(2025, 1, 27))["close"][-1]
    assert day["limit_pct"] == pytest.approx(0.20)
    assert day["limit_up_price"] == pytest.approx(_cn(prev, 0.20)[0])
    assert (day["limit_hit"], day["one_price"]) == ("up", True)
    # the flag is rare: a limit day is the exception, never the rule, on an honest recording
    assert 0 < out["limit_hit"].is_not_null().sum() < 0.1 * out.height
