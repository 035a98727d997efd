"""Value moved: hand-computed USD market-cap changes, as-of joins and honest nulls."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from transforms.value_moved import (
    SEGMENT_VALUE_MOVED,
    VALUE_MOVED,
    segment_value_moved,
    value_moved,
)

D = date
# The DeepSeek week on a Monday-Friday venue: day -1 is Friday 24 Jan 2025, day 0 Monday 27th
US_WEEK = {-1: D(2025, 1, 24), 0: D(2025, 1, 27), 1: D(2025, 1, 28), 2: D(2025, 1, 29),
           3: D(2025, 1, 30), 4: D(2025, 1, 31), 5: D(2025, 2, 3)}

SECURITIES = pl.DataFrame(
    [
        ("NVDA", "accelerators", "USD", "equity"),
        ("NVD.DE", "accelerators", "EUR", "equity"),
        ("AMD", "accelerators", "USD", "equity"),
        ("8035.T", "semicap_equipment", "JPY", "equity"),
        ("TSM", "foundry", "USD", "adr"),
        ("^GSPC", "benchmark", "USD", "index"),
        ("ES=F", "benchmark", "USD", "future"),
        ("SPY", "benchmark", "USD", "etf"),
    ],
    schema=["ticker", "segment", "currency", "kind"],
    orient="row",
)


def window(event_id: str, tickers: list[str], days: dict[int, date] = US_WEEK) -> pl.DataFrame:
    return pl.DataFrame(
        [(event_id, t, rel, d) for t in tickers for rel, d in days.items()],
        schema={"event_id": pl.String, "ticker": pl.String, "rel_day": pl.Int64,
                "session_date": pl.Date},
        orient="row",
    )


def prices(rows: list[tuple[str, date, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"ticker": pl.String, "session_date": pl.Date,
                                      "close": pl.Float64}, orient="row")


def shares(rows: list[tuple[str, date, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"ticker": pl.String, "as_of_date": pl.Date,
                                      "shares_outstanding": pl.Float64}, orient="row")


def fx(rows: list[tuple[str, date, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"currency": pl.String, "session_date": pl.Date,
                                      "usd_per_unit": pl.Float64}, orient="row")


NO_FX = fx([])
NVDA_PRICES = [("NVDA", D(2025, 1, 24), 142.62), ("NVDA", D(2025, 1, 27), 118.42),
               ("NVDA", D(2025, 2, 3), 116.66)]
NVDA_SHARES = [
    ("NVDA", D(2024, 8, 29), 24.53e9),
    ("NVDA", D(2024, 11, 21), 24.49e9),  # the count in force on day -1
    ("NVDA", D(2025, 1, 27), 99.0e9),  # stamped on day 0: after day -1, must not be used
]


def one(frame: pl.DataFrame, event_id: str, ticker: str) -> dict:
    return frame.filter(pl.col("event_id") == event_id, pl.col("ticker") == ticker).row(
        0, named=True
    )


def segment(summary: pl.DataFrame, event_id: str, name: str) -> dict:
    return summary.filter(pl.col("event_id") == event_id, pl.col("segment") == name).row(
        0, named=True
    )


def test_nvidia_on_deepseek_monday_is_the_590_billion():  # the story's headline number
    out = value_moved(window("deepseek", ["NVDA"]), SECURITIES, prices(NVDA_PRICES),
                      shares(NVDA_SHARES), NO_FX)

    assert out.schema == pl.Schema(VALUE_MOVED)
    row = one(out, "deepseek", "NVDA")
    assert row["shares_outstanding"] == 24.49e9
    assert row["shares_as_of"] == D(2024, 11, 21)
    assert row["mcap_usd_prev"] == pytest.approx(24.49e9 * 142.62)  # ~3.49 trillion
    # 24.49e9 x (118.42 - 142.62) = -592.658e9 USD
    assert row["value_moved_usd_0_0"] == pytest.approx(-592.658e9, rel=1e-9)
    assert row["value_moved_usd_0_p5"] == pytest.approx(24.49e9 * (116.66 - 142.62))
    assert not any(row[f] for f in ("not_applicable", "shares_unknown", "fx_unknown",
                                    "price_unknown"))
    assert row["duplicate_listing_of"] is None


def test_a_yen_listing_is_converted_at_each_dates_rate():
    tel_prices = prices([("8035.T", D(2025, 1, 24), 27580.0), ("8035.T", D(2025, 1, 27), 26150.0),
                         ("8035.T", D(2025, 2, 3), 25000.0)])
    tel_shares = shares([("8035.T", D(2024, 5, 14), 471_632_864.0),
                         ("8035.T", D(2024, 11, 13), 459_842_272.0)])
    rates = fx([
        ("JPY", D(2025, 1, 23), 1 / 156.61),
        ("JPY", D(2025, 1, 24), 1 / 156.02),
        ("JPY", D(2025, 1, 27), 1 / 155.31),
        ("JPY", D(2025, 1, 31), 1 / 154.33),  # no rate on 3 Feb: the 31st is 3 days older
        ("EUR", D(2025, 1, 27), 1.04),
    ])

    out = value_moved(window("deepseek", ["8035.T"]), SECURITIES, tel_prices, tel_shares, rates)

    row = one(out, "deepseek", "8035.T")
    n = 459_842_272.0
    assert row["mcap_usd_prev"] == pytest.approx(n * 27580.0 / 156.02)  # ~81.3e9 USD
    assert row["value_moved_usd_0_0"] == pytest.approx(n * (26150.0 / 155.31 - 27580.0 / 156.02))
    assert row["value_moved_usd_0_0"] == pytest.approx(-3.862e9, rel=1e-3)
    assert row["value_moved_usd_0_p5"] == pytest.approx(n * (25000.0 / 154.33 - 27580.0 / 156.02))
    # at the day -1 rate throughout, the answer would differ: the dates matter
    assert row["value_moved_usd_0_0"] != pytest.approx(n * (26150.0 - 27580.0) / 156.02)
    assert (row["fx_unknown"], row["shares_unknown"]) == (False, False)


def test_fx_at_most_seven_days_stale():
    tel_prices = prices([("8035.T", D(2025, 1, 24), 27580.0), ("8035.T", D(2025, 1, 27), 26150.0),
                         ("8035.T", D(2025, 2, 3), 25000.0)])
    tel_shares = shares([("8035.T", D(2024, 11, 13), 459_842_272.0)])
    n = 459_842_272.0
    # for day +5 (3 Feb) the latest rate is 27 Jan: exactly 7 days old, still used
    seven = fx([("JPY", D(2025, 1, 24), 0.00641), ("JPY", D(2025, 1, 27), 0.00644)])
    # the latest rate is 26 Jan: fine for day 0 (1 day old), 8 days old for day +5
    eight = fx([("JPY", D(2025, 1, 24), 0.00641), ("JPY", D(2025, 1, 26), 0.00644)])

    ok = one(value_moved(window("e", ["8035.T"]), SECURITIES, tel_prices, tel_shares, seven),
             "e", "8035.T")
    stale = one(value_moved(window("e", ["8035.T"]), SECURITIES, tel_prices, tel_shares, eight),
                "e", "8035.T")

    assert ok["value_moved_usd_0_p5"] == pytest.approx(n * (25000 * 0.00644 - 27580 * 0.00641))
    assert ok["fx_unknown"] is False
    assert stale["value_moved_usd_0_0"] == pytest.approx(n * (26150 * 0.00644 - 27580 * 0.00641))
    assert stale["value_moved_usd_0_p5"] is None
    assert stale["fx_unknown"] is True
    assert stale["shares_unknown"] is False


def test_no_rate_at_all_leaves_a_non_usd_listing_unvalued():
    tel_prices = prices([("8035.T", D(2025, 1, 24), 27580.0), ("8035.T", D(2025, 1, 27), 26150.0)])
    tel_shares = shares([("8035.T", D(2024, 11, 13), 459_842_272.0)])
    only_eur = fx([("EUR", D(2025, 1, 24), 1.04)])

    row = one(value_moved(window("e", ["8035.T"]), SECURITIES, tel_prices, tel_shares, only_eur),
              "e", "8035.T")

    assert row["fx_unknown"] is True
    assert row["mcap_usd_prev"] is None and row["value_moved_usd_0_0"] is None
    assert row["shares_outstanding"] == 459_842_272.0  # known, but no dollars without a rate


def test_as_of_join_takes_the_latest_count_on_or_before_day_minus_1():
    same_day = shares([("NVDA", D(2024, 11, 21), 24.49e9), ("NVDA", D(2025, 1, 24), 24.40e9),
                       ("NVDA", D(2025, 1, 27), 99e9)])
    too_old = shares([("NVDA", D(2023, 12, 1), 2.47e9)])  # pre-split and 420 days old

    on_day = one(value_moved(window("e", ["NVDA"]), SECURITIES, prices(NVDA_PRICES),
                             same_day, NO_FX), "e", "NVDA")
    old = one(value_moved(window("e", ["NVDA"]), SECURITIES, prices(NVDA_PRICES), too_old,
                          NO_FX), "e", "NVDA")
    no_limit = one(value_moved(window("e", ["NVDA"]), SECURITIES, prices(NVDA_PRICES), too_old,
                               NO_FX, max_shares_age_days=None), "e", "NVDA")

    assert (on_day["shares_as_of"], on_day["shares_outstanding"]) == (D(2025, 1, 24), 24.40e9)
    assert old["shares_unknown"] is True and old["shares_outstanding"] is None
    assert old["value_moved_usd_0_0"] is None
    assert no_limit["shares_outstanding"] == 2.47e9


def test_each_event_gets_its_own_count():
    two_events = pl.concat([
        window("deepseek", ["NVDA"]),
        window("later", ["NVDA"], {-1: D(2025, 3, 7), 0: D(2025, 3, 10), 5: D(2025, 3, 17)}),
    ])
    px = prices([*NVDA_PRICES, ("NVDA", D(2025, 3, 7), 112.69), ("NVDA", D(2025, 3, 10), 106.98),
                 ("NVDA", D(2025, 3, 17), 119.53)])
    counts = shares([*NVDA_SHARES[:2], ("NVDA", D(2025, 2, 27), 24.40e9)])

    out = value_moved(two_events, SECURITIES, px, counts, NO_FX)

    assert out.height == 2
    assert one(out, "deepseek", "NVDA")["shares_outstanding"] == 24.49e9
    later = one(out, "later", "NVDA")
    assert later["shares_outstanding"] == 24.40e9
    assert later["value_moved_usd_0_0"] == pytest.approx(24.40e9 * (106.98 - 112.69))
    alone = value_moved(window("deepseek", ["NVDA"]), SECURITIES, px, counts, NO_FX)
    assert out.filter(pl.col("event_id") == "deepseek").equals(alone)


def test_unknown_shares_are_null_and_flagged_never_guessed():
    amd = prices([("AMD", D(2025, 1, 24), 121.0), ("AMD", D(2025, 1, 27), 115.0)])

    row = one(value_moved(window("e", ["AMD"]), SECURITIES, amd, shares([]), NO_FX), "e", "AMD")

    assert row["shares_unknown"] is True
    assert row["mcap_usd_prev"] is None
    assert row["value_moved_usd_0_0"] is None and row["value_moved_usd_0_p5"] is None
    assert (row["not_applicable"], row["fx_unknown"], row["price_unknown"]) == (False,) * 3


def test_indices_futures_and_etfs_are_not_applicable():
    tickers = ["^GSPC", "ES=F", "SPY"]
    px = prices([(t, d, 100.0) for t in tickers for d in US_WEEK.values()])
    counts = shares([(t, D(2024, 1, 2), 1e9) for t in tickers])  # even if a source had counts

    out = value_moved(window("e", tickers), SECURITIES, px, counts, NO_FX)

    assert out["not_applicable"].to_list() == [True] * 3
    for column in ("shares_outstanding", "mcap_usd_prev", "value_moved_usd_0_0",
                   "value_moved_usd_0_p5"):
        assert out[column].null_count() == 3
    for flag in ("shares_unknown", "fx_unknown", "price_unknown"):
        assert not out[flag].any()


def test_missing_prices_are_flagged_and_a_future_day_5_is_just_pending():
    counts = shares(NVDA_SHARES)
    no_day0 = prices([NVDA_PRICES[0], NVDA_PRICES[2]])
    pending = prices(NVDA_PRICES[:2])  # day +5 has not happened: no later price is loaded
    gap = prices([*NVDA_PRICES[:2], ("NVDA", D(2025, 2, 4), 118.65)])  # +5 missing, +6 loaded

    a = one(value_moved(window("e", ["NVDA"]), SECURITIES, no_day0, counts, NO_FX), "e", "NVDA")
    b = one(value_moved(window("e", ["NVDA"]), SECURITIES, pending, counts, NO_FX), "e", "NVDA")
    c = one(value_moved(window("e", ["NVDA"]), SECURITIES, gap, counts, NO_FX), "e", "NVDA")

    assert a["price_unknown"] is True and a["value_moved_usd_0_0"] is None
    assert a["value_moved_usd_0_p5"] == pytest.approx(24.49e9 * (116.66 - 142.62))
    assert b["price_unknown"] is False
    assert b["value_moved_usd_0_0"] == pytest.approx(-592.658e9)
    assert b["value_moved_usd_0_p5"] is None
    assert c["price_unknown"] is True and c["value_moved_usd_0_p5"] is None


def test_conflicting_share_counts_are_not_used():
    """The rule is the shares suite's (expectations.reference): both counts of an ambiguous
    date are quarantined, so the count in force is the previous one."""
    from datetime import UTC, datetime

    from expectations.reference import shares_to_core, validate_shares

    raw = shares([*NVDA_SHARES[:2], ("NVDA", D(2024, 11, 21), 2.449e9)]).with_columns(
        source=pl.lit("test"), fetched_at=pl.lit(datetime(2025, 2, 1, tzinfo=UTC)))
    checked = validate_shares(raw)
    assert checked.rejected["reasons"].to_list() == [["conflicting_shares"]] * 2
    counts = shares_to_core(checked.good)

    row = one(value_moved(window("e", ["NVDA"]), SECURITIES, prices(NVDA_PRICES), counts, NO_FX),
              "e", "NVDA")

    # 21 Nov is ambiguous, so the count in force is the 29 Aug one
    assert (row["shares_as_of"], row["shares_outstanding"]) == (D(2024, 8, 29), 24.53e9)


def test_segment_totals_count_each_company_once_and_say_over_how_many():
    week = list(US_WEEK.values())
    px = prices([
        *NVDA_PRICES,
        ("AMD", week[0], 121.0), ("AMD", week[1], 115.0), ("AMD", week[6], 114.0),
        ("NVD.DE", week[0], 137.0), ("NVD.DE", week[1], 114.0), ("NVD.DE", week[6], 112.0),
        ("TSM", week[0], 217.0), ("TSM", week[1], 190.0),
        *[("^GSPC", d, 6000.0) for d in week],
    ])
    counts = shares([*NVDA_SHARES, ("AMD", D(2024, 10, 30), 1.62e9),
                     ("NVD.DE", D(2024, 11, 21), 24.49e9)])
    rates = fx([("EUR", d, 1.04) for d in week])
    win = pl.concat([window("deepseek", ["NVDA", "AMD", "NVD.DE", "TSM", "^GSPC"]),
                     window("other", ["TSM"])])

    values = value_moved(win, SECURITIES, px, counts, rates)
    summary = segment_value_moved(values)

    assert one(values, "deepseek", "NVD.DE")["duplicate_listing_of"] == "NVDA"
    assert one(values, "deepseek", "NVD.DE")["value_moved_usd_0_0"] == pytest.approx(
        24.49e9 * (114.0 - 137.0) * 1.04
    )
    assert summary.schema == pl.Schema(SEGMENT_VALUE_MOVED)
    acc = segment(summary, "deepseek", "accelerators")
    assert (acc["n_securities"], acc["n_applicable"], acc["n_duplicate_listing"]) == (3, 2, 1)
    assert acc["n_valued_0_0"] == 2  # NVDA and AMD; NVD.DE is NVIDIA again
    assert acc["value_moved_usd_0_0"] == pytest.approx(
        24.49e9 * (118.42 - 142.62) + 1.62e9 * (115.0 - 121.0)
    )
    assert acc["mcap_usd_prev_0_0"] == pytest.approx(24.49e9 * 142.62 + 1.62e9 * 121.0)
    assert acc["value_moved_usd_0_p5"] == pytest.approx(
        24.49e9 * (116.66 - 142.62) + 1.62e9 * (114.0 - 121.0)
    )
    # TSM is the ADR line of 2330.TW: a second listing, never in a total
    foundry = segment(summary, "deepseek", "foundry")
    assert (foundry["n_applicable"], foundry["n_valued_0_0"]) == (0, 0)
    assert foundry["value_moved_usd_0_0"] is None
    bench = segment(summary, "deepseek", "benchmark")
    assert (bench["n_securities"], bench["n_not_applicable"], bench["n_applicable"]) == (1, 1, 0)
    assert bench["value_moved_usd_0_0"] is None
    # the pooled row, as in marts.event_segment_summary: every segment but the benchmark
    pooled = segment(summary, "deepseek", "all")
    assert (pooled["n_securities"], pooled["n_applicable"], pooled["n_valued_0_0"]) == (4, 2, 2)
    assert pooled["n_not_applicable"] == 0 and pooled["n_duplicate_listing"] == 2
    assert pooled["value_moved_usd_0_0"] == pytest.approx(acc["value_moved_usd_0_0"])
    assert summary.filter(pl.col("event_id") == "other")["segment"].to_list() == ["all", "foundry"]
    unpooled = segment_value_moved(values, pooled=None)
    assert "all" not in unpooled["segment"].to_list()


def test_segment_totals_report_unknowns():
    amd = prices([("AMD", D(2025, 1, 24), 121.0), ("AMD", D(2025, 1, 27), 115.0)])
    values = value_moved(window("e", ["NVDA", "AMD"]), SECURITIES,
                         pl.concat([prices(NVDA_PRICES), amd]), shares(NVDA_SHARES), NO_FX)

    row = segment_value_moved(values, pooled=None).row(0, named=True)

    assert (row["n_applicable"], row["n_valued_0_0"], row["n_shares_unknown"]) == (2, 1, 1)
    assert row["value_moved_usd_0_0"] == pytest.approx(-592.658e9)
    assert row["n_valued_0_p5"] == 1  # NVDA only: AMD has no share count


def test_vectorised_over_many_events_quickly():
    events = [f"e{i:03d}" for i in range(300)]
    win = pl.concat([window(e, ["NVDA", "AMD", "8035.T", "^GSPC"]) for e in events])
    px = prices([(t, d, 100.0 + i) for i, d in enumerate(US_WEEK.values())
                 for t in ["NVDA", "AMD", "8035.T", "^GSPC"]])
    counts = shares([(t, D(2024, 11, 1), 1e9) for t in ["NVDA", "AMD", "8035.T"]])
    rates = fx([("JPY", d, 0.0064) for d in US_WEEK.values()])

    out = value_moved(win, SECURITIES, px, counts, rates)

    assert out.height == 1200
    assert out.filter(pl.col("ticker") == "NVDA")["value_moved_usd_0_0"].unique().to_list() == [
        pytest.approx(1e9)
    ]
