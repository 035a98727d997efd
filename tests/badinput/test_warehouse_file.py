"""A damaged warehouse file or a full disk: one `error:` line naming the file and the cause,
exit 2, never a DuckDB traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from warehouse.connection import connect

AFTERSHOCK = str(Path(sys.executable).parent / "aftershock")


def _one_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr
    assert len(lines) == 1 and lines[0].startswith("error:"), stderr
    return lines[0]


def test_a_truncated_warehouse_is_one_line_naming_the_file(tmp_path: Path):
    path = tmp_path / "w.duckdb"
    con = connect(str(path))
    con.execute("CREATE TABLE raw.pad AS SELECT range AS i, md5(range::VARCHAR) AS s "
                "FROM range(300000)")
    con.execute("CHECKPOINT")
    con.close()
    os.truncate(path, path.stat().st_size // 2)
    for args in (["status"], ["query", "SELECT count(*), max(s) FROM raw.pad", "--etl"]):
        done = subprocess.run([AFTERSHOCK, *args, "--warehouse", str(path)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2
        line = _one_error(done.stderr)
        assert str(path) in line and "Could not read enough bytes" in line


@pytest.mark.parametrize("fault", [
    duckdb.IOException('IO Error: Could not read enough bytes from file "/x/w.duckdb"'),
    duckdb.TransactionException("TransactionContext Error: Failed to commit: could not write "
                                'file "/x/w.duckdb.wal": No space left on device'),
])
def test_a_file_fault_deep_inside_a_command_is_one_line(monkeypatch, capsys, fault):
    """The same when the file opened and a command met the fault later (a half-truncated file
    that answers a first query; a full disk at COMMIT): the entry point translates it."""
    import flows.cli as cli

    def command() -> None:
        raise fault

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    line = _one_error(capsys.readouterr().err)
    assert '"/x/w.duckdb' in line and type(fault).__name__ in line
    assert "damaged" in line and "disk is full" in line
