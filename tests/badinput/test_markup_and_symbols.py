"""Text from data is shown as text in the CLI, and only symbol-shaped tickers pass the seeds."""

import polars as pl
import pytest

from expectations.events import validate_universe
from flows.cli import Format, print_frame
from warehouse.seeds import read_universe


def test_markup_in_data_prints_literally(capsys):
    headline = "[bold red]Nvidia[/] <script>alert(1)</script> [link=http://x]click[/link]"
    print_frame(pl.DataFrame({"title": [headline]}), Format.table)
    out = capsys.readouterr().out
    assert "[bold red]Nvidia[/]" in out and "<script>alert(1)</script>" in out
    assert "[link=http://x]click[/link]" in out


@pytest.mark.parametrize("ticker", ["../etc/passwd", "NV DA", "x';DROP TABLE t;--", "nvda", ""])
def test_malformed_ticker_in_the_universe_is_refused(ticker):
    universe = read_universe()
    bad = universe.head(1).with_columns(ticker=pl.lit(ticker), benchmark=pl.lit("^GSPC"))
    outcome = validate_universe(pl.concat([universe, bad]))
    assert outcome.rejected.height == 1
    reasons = outcome.rejected["reasons"][0].to_list()
    assert "ticker_form" in reasons or "ticker_null" in reasons
    assert outcome.good.height == universe.height  # every good row kept
