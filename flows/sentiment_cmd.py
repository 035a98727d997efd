"""`aftershock sentiment`: score headlines with the scorer the news pipeline ships.

``aftershock sentiment "Nvidia shares plunge 17% as DeepSeek rattles AI trade"`` prints the
headline's score in [-1, 1] and its label (positive / neutral / negative);
``--file FILE`` scores every non-blank line of a UTF-8 text file (``-`` reads standard
input). The scorer is ``transforms.sentiment.default_scorer`` — the one that scores every
story the daily run loads — so the command shows exactly what ``core.fact_news.sentiment``
holds for a title. Bad input (no headline, both a headline and a file, a missing or
unreadable file, a file with no headline) ends with one line ``error: ...`` and exit 2.

cli.py registers it with ``app.command()(sentiment)``. ``flows.cli`` is imported inside the
function only (cli.py imports this module), so either module can be imported first.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from flows.cli_options import Format, InputError

#: Output columns, in order.
OUTPUT_COLUMNS = ("headline", "score", "label")


def sentiment(
    text: Annotated[
        str | None, typer.Argument(help="a headline to score (or use --file)", show_default=False)
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="UTF-8 text file, one headline a line ('-' = stdin)"),
    ] = None,
    format: Annotated[
        Format, typer.Option("--format", help="table, csv or json")
    ] = Format.table,
) -> None:
    """Score market headlines: sentiment in [-1, 1] and its label, one row per headline.

    The scorer is the one the news pipeline ships (docs/news.md, "Sentiment"): a VADER-style
    scorer over a market vocabulary, chosen by bench/sentiment.py.
    """
    from flows.cli import fail, print_frame

    try:
        headlines = read_headlines(text, file)
    except InputError as exc:
        raise fail(str(exc)) from None
    result = score_frame(headlines)
    title = f"Headline sentiment ({len(headlines)} headline{'s' * (len(headlines) != 1)})"
    print_frame(result, format, title=title)


def read_headlines(text: str | None, file: Path | None) -> list[str]:
    """The headlines to score: ``text``, or the non-blank lines of ``file`` (stripped)."""
    if text is not None and file is not None:
        raise InputError("give a headline or --file, not both")
    if text is None and file is None:
        raise InputError("no headline: give one as an argument, or --file FILE (one a line)")
    if text is not None:
        if not text.strip():
            raise InputError("the headline is empty")
        return [text.strip()]
    if str(file) == "-":
        content, name = sys.stdin.read(), "standard input"
    else:
        if file.is_dir():
            raise InputError(f"headlines file {file} is a directory, not a text file")
        if not file.is_file():
            raise InputError(f"headlines file {file} not found")
        try:
            content = file.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{file} is not UTF-8 text (byte {exc.start}: {exc.reason})"
            ) from None
        except OSError as exc:
            raise InputError(f"cannot read {file}: {exc.strerror or exc}") from None
        name = str(file)
    lines = [line.strip() for line in content.splitlines()]
    headlines = [line for line in lines if line]
    if not headlines:
        raise InputError(f"{name} has no headline (every line is blank)")
    return headlines


def score_frame(headlines: list[str]) -> pl.DataFrame:
    """headline, score (rounded to 4 decimals), label: one row per headline, in order."""
    from transforms.sentiment import default_scorer, label

    scorer = default_scorer()
    texts = pl.Series("headline", headlines, dtype=pl.String)
    scores = scorer.score(texts)
    return pl.DataFrame({
        "headline": texts,
        "score": scores.round(4),
        "label": label(scores, scorer.band),
    }).select(OUTPUT_COLUMNS)


__all__ = ["OUTPUT_COLUMNS", "InputError", "read_headlines", "score_frame", "sentiment"]
