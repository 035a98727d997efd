"""`aftershock eventstudy` through typer: estudy2's vignette, formats, and one-line errors."""

from __future__ import annotations

import importlib.util
import io
import json
import os
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from flows.eventstudy_cmd import OUTPUT_COLUMNS, eventstudy

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("AFTERSHOCK_SHARED", REPO / ".." / "shared"))
RATES = SHARED / "reference" / "estudy2" / "rates.csv"
VIGNETTE = ["--estimation", "2019-04-01:2020-03-13", "--window", "2020-03-16:2020-03-20"]

needs_reference = pytest.mark.skipif(
    not RATES.is_file(), reason=f"estudy2 reference data not found at {RATES}"
)


def published():
    """The vignette table and its tolerance rule, from the engine's own test module."""
    path = REPO / "tests" / "transforms" / "test_event_tests.py"
    spec = importlib.util.spec_from_file_location("_estudy2_published", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PUBLISHED, module.COLUMNS, module.printed_tolerance


def make_app() -> typer.Typer:
    """The real CLI once cli.py registers the command, else a stand-in with the same shape."""
    from flows import cli

    if any(c.callback is eventstudy for c in cli.app.registered_commands):
        return cli.app
    app = typer.Typer(add_completion=False)

    @app.callback()
    def main() -> None:  # a group, so the command is invoked by name as in the real CLI
        """Stand-in for the aftershock app."""

    app.command()(eventstudy)
    return app


APP = make_app()
RUNNER = CliRunner()


def invoke(*args: str):
    return RUNNER.invoke(APP, ["eventstudy", *args])


def csv_output(result) -> pl.DataFrame:
    assert result.exit_code == 0, result.output
    return pl.read_csv(io.StringIO(result.stdout), try_parse_dates=True)


@needs_reference
def test_cli_reproduces_estudy2_vignette():
    table, columns, tolerance = published()
    result = invoke("--returns", str(RATES), "--benchmark", "GSPC", *VIGNETTE, "--format", "csv")
    out = csv_output(result)
    assert tuple(out.columns) == OUTPUT_COLUMNS
    assert out["date"].to_list() == list(table)
    assert out["n"].to_list() == [7] * 5
    for day, line in table.items():
        got = out.filter(pl.col("date") == day).row(0, named=True)
        for col, text in zip(columns, line.split(), strict=True):
            assert got[col] == pytest.approx(float(text), abs=tolerance(text)), (day, col)
    for col in [c for c in out.columns if c.startswith("p_")]:
        assert out[col].is_between(0, 1).all(), col


@needs_reference
def test_formats_agree_and_table_fits():
    base = ["--returns", str(RATES), "--benchmark", "GSPC", *VIGNETTE]
    as_csv = csv_output(invoke(*base, "--format", "csv"))
    records = json.loads(invoke(*base, "--format", "json").stdout)
    assert len(records) == 5 and list(records[0]) == list(OUTPUT_COLUMNS)
    assert records[3]["bw1985"] == pytest.approx(as_csv["bw1985"][3], rel=1e-12)
    table = invoke(*base)
    assert table.exit_code == 0 and "Two-sided p-values" in table.stdout
    assert "2020-03-19" in table.stdout and "kp_bmp" in table.stdout


# --- a small synthetic file for the other cases --------------------------------------------


def write_returns(path: Path, rows: int = 160, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(rows)]
    mkt = rng.normal(0, 0.01, rows)
    frame = pl.DataFrame(
        {
            "date": days,
            **{t: 0.8 * mkt + rng.normal(0, 0.01, rows) for t in ("AAA", "BBB", "CCC")},
            "MKT": mkt,
        }
    )
    frame.write_csv(path)
    return path


SMALL = [
    "--benchmark",
    "MKT",
    "--estimation",
    "2024-01-01:2024-05-20",
    "--window",
    "2024-05-25:2024-06-05",
    "--min-estimation",
    "100",
]


def test_missing_cells_blank_or_na(tmp_path):
    path = write_returns(tmp_path / "r.csv")
    full = csv_output(invoke("--returns", str(path), *SMALL, "--format", "csv"))
    assert full.height == 12 and full["n"].to_list() == [3] * 12
    lines = path.read_text().splitlines()
    # blank BBB on the window's first day, NA for CCC on its second
    first = next(i for i, line in enumerate(lines) if line.startswith("2024-05-25"))
    cells = lines[first].split(",")
    cells[2] = ""
    lines[first] = ",".join(cells)
    cells = lines[first + 1].split(",")
    cells[3] = "NA"
    lines[first + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    result = invoke("--returns", str(path), *SMALL, "--format", "csv")
    gaps = csv_output(result)
    assert gaps["n"].to_list()[:3] == [2, 2, 3]
    assert gaps["mean_ar"][2:].to_list() == pytest.approx(full["mean_ar"][2:].to_list())
    # who left the cross-section, and why, beside the machine-readable output
    assert result.stderr.splitlines() == [
        "note: BBB left out of some dates: no return on 1 of 12 window dates (2024-05-25)",
        "note: CCC left out of some dates: no return on 1 of 12 window dates (2024-05-26)",
    ]


def test_every_security_that_leaves_a_statistic_is_named_with_why(tmp_path):
    """A security with too few estimation returns, one whose returns never vary, and a blank
    benchmark day: each is named with its reason -- in the table output as a third table, on
    stderr for csv -- and the cross-section's n agrees with what is named."""
    path = write_returns(tmp_path / "r.csv")
    frame = pl.read_csv(path, try_parse_dates=True)
    frame = frame.with_columns(
        THIN=pl.when(pl.int_range(pl.len()) >= 80).then(pl.col("AAA")),  # 65 estimation rows
        FLAT=pl.lit(0.0),
        MKT=pl.when(pl.col("date") == date(2024, 5, 30)).then(None).otherwise(pl.col("MKT")),
    )
    frame.write_csv(path)
    result = invoke("--returns", str(path), *SMALL, "--format", "csv")
    out = csv_output(result)
    expected = {
        "THIN": "every statistic: 61 valid estimation returns, fewer than the 100 required",
        "FLAT": "every statistic: its estimation abnormal returns do not vary (sigma 0)",
        **{t: "some dates: no benchmark return on 1 of 12 window dates (2024-05-30)"
           for t in ("AAA", "BBB", "CCC")},
    }
    notes = dict(line.removeprefix("note: ").split(" left out of ", 1)
                 for line in result.stderr.splitlines())
    assert notes == expected
    by_day = dict(zip(out["date"].to_list(), out["n"].to_list(), strict=True))
    assert by_day[date(2024, 5, 30)] == 0 and set(by_day.values()) == {0, 3}
    table = invoke("--returns", str(path), *SMALL)
    assert table.exit_code == 0, table.output
    assert "5 security(ies) missing from a statistic" in table.stdout
    for ticker in expected:
        assert ticker in table.stdout


def test_other_models(tmp_path):
    path = write_returns(tmp_path / "r.csv")
    for model in ("market_adjusted", "mean_adjusted"):
        result = invoke("--returns", str(path), *SMALL, "--model", model, "--format", "csv")
        out = csv_output(result)
        assert out.height == 12 and out["kp_bmp"].null_count() == 0


def edit(path: Path, old: str, new: str) -> Path:
    path.write_text(path.read_text().replace(old, new, 1))
    return path


def _set_cell(path: Path, day: str, value: str) -> Path:
    """Replace the first security's return on ``day`` with ``value``."""
    lines = path.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(day + ","):
            cells = line.rstrip("\n").split(",")
            cells[1] = value
            lines[i] = ",".join(cells) + "\n"
    path.write_text("".join(lines))
    return path


ERRORS = {
    "missing file": (lambda p: p.parent / "nope.csv", SMALL, "nope.csv not found"),
    "no date column": (lambda p: edit(p, "date,", "day,"), SMALL, "no 'date' column"),
    "return of 1e308": (
        lambda p: _set_cell(p, "2024-01-10", "1e308"),
        SMALL,
        "line 11, column 'AAA': return 1e308 is not a plausible daily return",
    ),
    "percent, not fraction": (
        lambda p: _set_cell(p, "2024-01-10", "-16.97"),
        SMALL,
        "line 11, column 'AAA': return -16.97 is not a plausible daily return",
    ),
    "duplicated column": (lambda p: edit(p, "date,AAA,BBB", "date,AAA,AAA"), SMALL,
                          "has duplicated column(s) AAA: each security must appear once"),
    "benchmark not in file": (
        lambda p: p,
        ["--benchmark", "SPX", *SMALL[2:]],
        "benchmark column 'SPX' is not a return column of the file",
    ),
    "non-numeric cell": (
        lambda p: edit(p, "\n2024-01-10,", "\n2024-01-10,oops"),
        SMALL,
        "line 11, column 'AAA'",
    ),
    "bad date": (lambda p: edit(p, "2024-01-10", "2024-13-10"), SMALL, "line 11: date"),
    "duplicate date": (
        lambda p: edit(p, "2024-01-11", "2024-01-10"),
        SMALL,
        "2024-01-10 appears more than once",
    ),
    "malformed period": (
        lambda p: p,
        [*SMALL[:2], "--estimation", "2024-01-01..2024-05-20", *SMALL[4:]],
        "--estimation '2024-01-01..2024-05-20' is not START:END",
    ),
    "period backwards": (
        lambda p: p,
        [*SMALL[:4], "--window", "2024-06-05:2024-05-25", *SMALL[6:]],
        "--window '2024-06-05:2024-05-25' starts after it ends",
    ),
    "too few estimation rows": (
        lambda p: p,
        [*SMALL[:-1], "150"],
        "estimation period 2024-01-01:2024-05-20 has 141 rows",
    ),
    "window without rows": (
        lambda p: p,
        [*SMALL[:4], "--window", "2025-01-01:2025-01-05", *SMALL[6:]],
        "event window 2025-01-01:2025-01-05 has no rows",
    ),
    "estimation into the window": (
        lambda p: p,
        [*SMALL[:2], "--estimation", "2024-01-01:2024-05-30", *SMALL[4:]],
        "must end before the event window starts",
    ),
    "min-estimation too small": (lambda p: p, [*SMALL[:-1], "2"], "--min-estimation must be"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_input_is_one_line(tmp_path, case):
    make, args, needle = ERRORS[case]
    path = make(write_returns(tmp_path / "r.csv"))
    result = invoke("--returns", str(path), *args)
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.output
