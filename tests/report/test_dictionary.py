"""The data dictionary comes from the marts' COMMENTs, and every mart column has one."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from flows.serving_cmds import docs, report
from warehouse import dictionary
from warehouse.connection import connect

REPO = Path(__file__).resolve().parents[2]


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(docs)
    app.command()(report)
    return app


def test_every_mart_table_and_column_is_commented():
    con = connect(":memory:")
    try:
        assert dictionary.missing_comments(con, "marts") == []
        assert dictionary.tables(con, "marts")
    finally:
        con.close()


def test_dictionary_lists_every_mart_column_with_its_comment():
    con = connect(":memory:")
    try:
        text = dictionary.markdown(con)
        for table in dictionary.tables(con, "marts"):
            assert f"### {table['name']}" in text
            for col in table["columns"]:
                assert f"| `{col['name']}` |" in text
    finally:
        con.close()
    assert "| `car_0_p5` | `DOUBLE` | yes | Cumulative abnormal return over sessions [0,+5]" in text
    assert "| [`marts.event_reaction`](#martsevent_reaction) | one row per (event_id," in text


def test_committed_dictionary_is_up_to_date():
    """docs/data-dictionary.md is what `aftershock docs` writes now (regenerate it if not)."""
    committed = (REPO / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert committed == dictionary.schema_markdown(), (
        "docs/data-dictionary.md is stale: run `aftershock docs`"
    )


def test_docs_command_writes_the_file(tmp_path):
    target = tmp_path / "dd.md"
    result = CliRunner().invoke(_cli(), ["docs", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == dictionary.schema_markdown()


def test_docs_from_a_serving_copy(serving_copy, tmp_path):
    target = tmp_path / "dd.md"
    result = CliRunner().invoke(
        _cli(), ["docs", "--output", str(target), "--warehouse", str(serving_copy)]
    )
    assert result.exit_code == 0, result.output
    assert "### marts.event_reaction" in target.read_text()


def test_report_command(serving_copy, tmp_path):
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        _cli(), ["report", "--serving", str(serving_copy), "--output", str(out),
                 "--event", "deepseek-r1"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "events" / "deepseek-r1.html").is_file()
    result = CliRunner().invoke(_cli(), ["report", "--serving", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2
    assert "error: no warehouse at" in result.output
