"""`aftershock sentiment` through typer: a headline, a file of headlines, formats, errors."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from flows.sentiment_cmd import OUTPUT_COLUMNS, sentiment
from transforms.sentiment import default_scorer

PLUNGE = "Nvidia shares plunge 17% as DeepSeek rattles AI trade"
BEATS = "ASML beats estimates, orders surge on AI demand"
NEUTRAL = "Oracle to report earnings on Thursday"


def make_app() -> typer.Typer:
    """The real CLI once cli.py registers the command, else a stand-in with the same shape."""
    from flows import cli

    if any(c.callback is sentiment for c in cli.app.registered_commands):
        return cli.app
    app = typer.Typer(add_completion=False)

    @app.callback()
    def main() -> None:  # a group, so the command is invoked by name as in the real CLI
        """Stand-in for the aftershock app."""

    app.command()(sentiment)
    return app


APP = make_app()
RUNNER = CliRunner()


def invoke(*args: str, stdin: str | None = None):
    return RUNNER.invoke(APP, ["sentiment", *args], input=stdin)


def csv_of(result) -> pl.DataFrame:
    assert result.exit_code == 0, result.output
    return pl.read_csv(io.StringIO(result.stdout))


def expected(texts: list[str]) -> list[float]:
    return [round(v, 4) for v in default_scorer().score(pl.Series(texts)).to_list()]


def test_one_headline_prints_its_score_and_label():
    out = csv_of(invoke(PLUNGE, "--format", "csv"))
    assert tuple(out.columns) == OUTPUT_COLUMNS
    assert out.rows() == [(PLUNGE, expected([PLUNGE])[0], "negative")]
    assert out["score"][0] < -0.5


def test_table_output_names_the_headline_and_label():
    result = invoke(BEATS)
    assert result.exit_code == 0, result.output
    assert "positive" in result.stdout and "ASML beats estimates" in result.stdout


def test_a_file_one_headline_a_line(tmp_path):
    path = tmp_path / "headlines.txt"
    path.write_text(f"{PLUNGE}\n\n  {BEATS}  \n{NEUTRAL}\n", encoding="utf-8")
    out = csv_of(invoke("--file", str(path), "--format", "csv"))
    assert out["headline"].to_list() == [PLUNGE, BEATS, NEUTRAL]  # blank line skipped
    assert out["label"].to_list() == ["negative", "positive", "neutral"]
    assert out["score"].to_list() == pytest.approx(expected([PLUNGE, BEATS, NEUTRAL]))


def test_json_and_stdin():
    result = invoke("--file", "-", "--format", "json", stdin=f"{NEUTRAL}\n{PLUNGE}\n")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["label"] for r in rows] == ["neutral", "negative"]
    assert rows[0] == {"headline": NEUTRAL, "score": 0.0, "label": "neutral"}


@pytest.mark.parametrize(("args", "message"), [
    ((), "no headline"),
    (("   ",), "the headline is empty"),
    ((PLUNGE, "--file", "x.txt"), "not both"),
    (("--file", "missing.txt"), "missing.txt not found"),
])
def test_bad_input_is_one_error_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines


def test_unreadable_files(tmp_path):
    blank = tmp_path / "blank.txt"
    blank.write_text("\n   \n", encoding="utf-8")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Nestlé falls\n".encode("latin-1"))
    for path, message in ((blank, "has no headline"), (latin, "is not UTF-8"),
                          (tmp_path, "is a directory")):
        result = invoke("--file", str(path))
        assert result.exit_code == 2 and message in result.output, result.output
