"""`aftershock eventstudy`: the marts' event-study engine on any wide CSV of returns.

The input is estudy2's layout: a ``date`` column (YYYY-MM-DD) and one column of returns per
security, the benchmark among them; blank cells (or NA / NaN) are missing values. The
command runs ``transforms.event_study.study_wide`` — the code the marts use — and prints one
row per event-window date with the cross-sectional statistics and their p-values.

cli.py registers it with ``app.command()(eventstudy)``. ``flows.cli`` is imported inside the
function only (cli.py imports this module), so either module can be imported first.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from flows.cli_options import Format, InputError
from transforms.event_study import DF_LOST, MODELS

#: Cells read as missing besides blanks (R writes NA; NaN is numpy's missing value).
MISSING_MARKERS = ("", "NA", "NaN", "nan")
#: The largest daily return (as a fraction) the command accepts: +1,000 %.
MAX_RETURN = 10.0

STATISTICS = (
    "bw1980",
    "bw1985",
    "cs_t",
    "patell",
    "bmp",
    "kp_bmp",
    "gen_sign",
    "corrado_rank",
)
#: Output columns, in order: the window date, the cross-section, statistics, p-values.
OUTPUT_COLUMNS = ("date", "n", "mean_ar", *STATISTICS, *(f"p_{s}" for s in STATISTICS))


#: The engine's normal-return models as command choices.
ModelChoice = StrEnum("ModelChoice", {m: m for m in MODELS})


def eventstudy(
    returns: Annotated[
        Path,
        typer.Option(
            "--returns",
            help="wide CSV: a 'date' column (YYYY-MM-DD) and one column of returns per "
            "security, the benchmark among them; blank cells are missing",
        ),
    ],
    benchmark: Annotated[
        str, typer.Option("--benchmark", help="column holding the market (benchmark) return")
    ],
    estimation: Annotated[
        str,
        typer.Option("--estimation", help="estimation period START:END (YYYY-MM-DD, inclusive)"),
    ],
    window: Annotated[
        str, typer.Option("--window", help="event window START:END (YYYY-MM-DD, inclusive)")
    ],
    model: Annotated[
        ModelChoice, typer.Option("--model", help="normal-return model")
    ] = ModelChoice.market,
    format: Annotated[
        Format, typer.Option("--format", help="table, csv or json")
    ] = Format.table,
    min_estimation: Annotated[
        int,
        typer.Option(
            "--min-estimation",
            help="valid estimation returns a security needs to enter the statistics",
        ),
    ] = 120,
) -> None:
    """Run an ad-hoc event study on a wide CSV of returns (the engine behind the marts).

    Prints one row per event-window date: date, n (securities with an abnormal return),
    mean_ar, the Brown-Warner 1980 and 1985, cross-sectional t, Patell, BMP,
    Kolari-Pynnönen-adjusted BMP, generalized sign and Corrado rank statistics, then their
    two-sided p-values; then every security missing from a statistic and why (too few
    estimation returns, no variance, blank window dates; on stderr for csv/json). See
    docs/method.md.
    """
    from flows.cli import err, fail, print_frame

    try:
        est = parse_period(estimation, "--estimation")
        win = parse_period(window, "--window")
        wide = read_wide_returns(returns)
        result, missing = run_study(wide, benchmark, est, win, model.value, min_estimation)
    except InputError as exc:
        raise fail(str(exc)) from None
    securities = [c for c in wide.columns if c not in ("date", benchmark)]
    title = (
        f"{model.value} model on {benchmark}, {len(securities)} securities, "
        f"estimation {est[0]}..{est[1]}, window {win[0]}..{win[1]}"
    )
    if format is Format.table:  # two tables that fit a terminal, not one of 19 columns
        p_values = [c for c in result.columns if c.startswith("p_")]
        print_frame(result.drop(p_values), Format.table, title=f"Event study: {title}")
        print_frame(result.select("date", *p_values), Format.table, title="Two-sided p-values")
        if missing.height:
            print_frame(missing.rename({"ticker": "security"}), Format.table,
                        title=f"{missing.height} security(ies) missing from a statistic")
    else:  # stdout stays one machine-readable document; who left goes to stderr
        print_frame(result, format)
        for row in missing.iter_rows(named=True):  # one line per security left out
            err.print(f"note: {row['ticker']} left out of {row['left_out']}: {row['reason']}",
                      highlight=False, markup=False, soft_wrap=True)


def parse_period(text: str, flag: str) -> tuple[date, date]:
    """'2019-04-01:2020-03-13' -> (start, end), or an InputError naming the flag."""
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = (date.fromisoformat(p.strip()) for p in parts)
    except ValueError:
        raise InputError(
            f"{flag} {text!r} is not START:END with dates YYYY-MM-DD, e.g. 2019-04-01:2020-03-13"
        ) from None
    if start > end:
        raise InputError(f"{flag} {text!r} starts after it ends")
    return start, end


def read_wide_returns(path: Path) -> pl.DataFrame:
    """Read and check the wide CSV: ``date`` as Date, every other column Float64.

    Errors (InputError) name the file, and for a bad cell its column and line (line 1 is
    the header).
    """
    if path.is_dir():
        raise InputError(f"returns file {path} is a directory, not a CSV file")
    if not path.is_file():
        raise InputError(f"returns file {path} not found")
    try:
        raw = pl.read_csv(path, infer_schema=False)
        header = pl.read_csv(path, has_header=False, n_rows=1, infer_schema=False).row(0)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read {path} as CSV: {first}") from None
    twice = sorted({str(n) for n in header if header.count(n) > 1})
    if twice:  # polars would rename the copy (NVDA_duplicated_0) and study it as a security
        raise InputError(f"{path} has duplicated column(s) {_names(twice)}: each security "
                         "must appear once")
    if "date" not in raw.columns:
        raise InputError(f"{path} has no 'date' column (columns: {_names(raw.columns)})")
    if raw.height == 0:
        raise InputError(f"{path} has no data rows")
    line = pl.int_range(2, pl.len() + 2)
    text = pl.col("date").str.strip_chars()
    bad = raw.select(text.alias("v"), line.alias("line")).filter(
        pl.col("v").is_null() | pl.col("v").str.to_date("%Y-%m-%d", strict=False).is_null()
    )
    if bad.height:
        value, at = bad.row(0)
        raise InputError(f"{path} line {at}: date {value!r} is not a date (YYYY-MM-DD)")
    dates = text.str.to_date("%Y-%m-%d")
    dup = raw.select(dates.alias("d"), line.alias("line")).filter(pl.col("d").is_duplicated())
    if dup.height:
        raise InputError(f"{path} line {dup['line'][1]}: date {dup['d'][0]} appears more than once")
    columns = [c for c in raw.columns if c != "date"]
    cells = {c: pl.col(c).str.strip_chars() for c in columns}
    missing = {c: e.is_null() | e.is_in(list(MISSING_MARKERS)) for c, e in cells.items()}
    values = {c: e.cast(pl.Float64, strict=False) for c, e in cells.items()}
    checks = raw.select(
        line.alias("line"),
        *((~missing[c] & ~values[c].is_finite().fill_null(False)).alias(c) for c in columns),
    )
    wrong = checks.unpivot(index="line", variable_name="column", value_name="bad").filter("bad")
    if wrong.height:
        at, column = wrong.sort("line").select("line", "column").row(0)
        value = raw[column][at - 2]
        raise InputError(
            f"{path} line {at}, column {column!r}: {value!r} is not a number "
            "(leave missing values blank)"
        )
    wide = raw.select(
        dates.alias("date"),
        *(pl.when(~missing[c]).then(values[c]).alias(c) for c in columns),
    )
    # a return no security can have: it would overflow a variance and drop the security from
    # the cross-section without a word (a 1e308 cell), or it is a percentage, not a fraction
    implausible = wide.select(
        line.alias("line"),
        *(((pl.col(c) <= -1) | (pl.col(c) > MAX_RETURN)).fill_null(False).alias(c)
          for c in columns),
    ).unpivot(index="line", variable_name="column", value_name="bad").filter("bad")
    if implausible.height:
        at, column = implausible.sort("line").select("line", "column").row(0)
        raise InputError(
            f"{path} line {at}, column {column!r}: return {raw[column][at - 2].strip()} is not "
            f"a plausible daily return (returns are fractions: 0.01 is 1 %; a return is above "
            f"-1 and at most {MAX_RETURN:g})"
        )
    return wide


def run_study(
    wide: pl.DataFrame,
    benchmark: str,
    estimation: tuple[date, date],
    window: tuple[date, date],
    model: str,
    min_estimation: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check the study can be run, run it; (the output columns, ``left_out``: each security
    missing from a statistic, and why)."""
    from transforms.event_study import study_wide_report

    if benchmark not in wide.columns or benchmark == "date":
        raise InputError(
            f"benchmark column {benchmark!r} is not a return column of the file (columns: "
            f"{_names([c for c in wide.columns if c != 'date'])})"
        )
    if len(wide.columns) < 3:
        raise InputError("the file needs at least one security column besides the benchmark")
    least = DF_LOST.get(model, 2) + 3
    if min_estimation < least:
        raise InputError(f"--min-estimation must be at least {least} for the {model} model")
    d = pl.col("date")
    counts = wide.select(est=d.is_between(*estimation).sum(), win=d.is_between(*window).sum()).row(
        0, named=True
    )
    est_text = f"{estimation[0]}:{estimation[1]}"
    if counts["est"] < min_estimation:
        raise InputError(
            f"estimation period {est_text} has {counts['est']} rows in the file; "
            f"--min-estimation needs at least {min_estimation}"
        )
    if counts["win"] == 0:
        raise InputError(f"event window {window[0]}:{window[1]} has no rows in the file")
    if estimation[1] >= window[0]:
        raise InputError(
            f"estimation period {est_text} must end before the event window starts ({window[0]})"
        )
    try:
        result, missing = study_wide_report(wide, benchmark, estimation, window,
                                            model, min_estimation)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InputError(str(exc).splitlines()[0]) from None
    if result.height == 0:
        raise InputError(
            f"no security has {min_estimation} valid estimation returns in {est_text} "
            "(lower --min-estimation or widen --estimation)"
        )
    return result.select(OUTPUT_COLUMNS), missing


def _names(columns: list[str], limit: int = 12) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")
