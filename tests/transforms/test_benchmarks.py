"""The benchmark chain: own index, then the region's, then ^GSPC -- flagged whenever used."""

import polars as pl

from transforms.benchmarks import GLOBAL_FALLBACK, REGION_FALLBACK, resolve_benchmarks

SECURITIES = pl.DataFrame({
    "ticker": ["ASML.AS", "2330.TW", "SAP.DE", "ZZZ.XX", "^AEX", "NVDA"],
    "country": ["NL", "TW", "DE", "XX", "NL", "US"],
    "benchmark": ["^AEX", "^TWII", "^GDAXI", "^NONE", "^AEX", "^GSPC"],
})


def _prices(*tickers: str) -> pl.DataFrame:
    return pl.DataFrame({"ticker": list(tickers)})


def test_the_chain_in_order():
    out = resolve_benchmarks(SECURITIES, _prices("ASML.AS", "^GDAXI", "^GSPC", "2330.TW"))
    got = {r["ticker"]: (r["benchmark"], r["benchmark_fallback"], r["listed_benchmark"])
           for r in out.iter_rows(named=True)}
    assert got["ASML.AS"] == (REGION_FALLBACK["NL"], True, "^AEX")  # ^AEX has no data
    assert got["SAP.DE"] == ("^GDAXI", False, "^GDAXI")  # its own has data
    assert got["2330.TW"] == (GLOBAL_FALLBACK, True, "^TWII")  # no ^TWII, no ^N225: ^GSPC
    assert got["ZZZ.XX"] == (GLOBAL_FALLBACK, True, "^NONE")  # unknown region: global
    assert got["^AEX"] == ("^AEX", False, "^AEX")  # an index stays its own benchmark
    assert got["NVDA"] == ("^GSPC", False, "^GSPC")


def test_nothing_to_fall_back_on_keeps_the_own_benchmark_unflagged():
    out = resolve_benchmarks(SECURITIES, _prices("ASML.AS"))
    assert out["benchmark"].to_list() == SECURITIES["benchmark"].to_list()
    assert not out["benchmark_fallback"].any()
