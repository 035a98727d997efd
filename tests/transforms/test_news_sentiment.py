"""Headline sentiment: measured on the labelled set, fast, bounded, and better than plain VADER."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest

from transforms.sentiment import build_lexicon, evaluate, label, score
from warehouse.news_load import read_vader_lexicon

LABELLED = Path(__file__).resolve().parents[1] / "fixtures" / "news" / "headlines_labelled.csv"


@pytest.fixture(scope="module")
def lexicon() -> pl.DataFrame:
    return build_lexicon(read_vader_lexicon())


@pytest.fixture(scope="module")
def labelled() -> pl.DataFrame:
    return pl.read_csv(LABELLED)


def test_the_evaluation_set_is_big_and_balanced(labelled):
    assert labelled.height >= 200
    assert labelled["text"].is_unique().all()
    counts = dict(labelled.group_by("label").len().iter_rows())
    assert set(counts) == {"positive", "negative", "neutral"} and min(counts.values()) >= 50
    assert labelled.filter(pl.col("split") == "test").height >= 70


def test_the_issue_examples_get_the_market_sign(lexicon):
    scores = score(pl.Series([
        "Nvidia shares plunge 17% as DeepSeek rattles AI trade",
        "ASML beats estimates, orders surge on AI demand",
    ]), lexicon).to_list()
    assert scores[0] < -0.5 and scores[1] > 0.5


def test_held_out_accuracy_is_at_least_80_percent(lexicon, labelled):
    test = labelled.filter(pl.col("split") == "test")
    metrics = evaluate(label(score(test["text"], lexicon)), test["label"])
    assert metrics["accuracy"] >= 0.80
    assert metrics["macro_f1"] >= 0.80


def test_plain_vader_is_measurably_worse(lexicon, labelled):
    vader = pytest.importorskip("vaderSentiment.vaderSentiment")
    analyzer = vader.SentimentIntensityAnalyzer()
    plain = pl.Series([analyzer.polarity_scores(t)["compound"] for t in labelled["text"]])
    ours = evaluate(label(score(labelled["text"], lexicon)), labelled["label"])
    theirs = evaluate(label(plain), labelled["label"])
    assert theirs["accuracy"] < 0.70 < ours["accuracy"]


def test_negation_contrast_and_edge_cases(lexicon):
    out = score(pl.Series([
        "Nvidia shares do not fall",
        "Broadcom shares slip despite strong results",
        "Nvidia rebounds 9% after record selloff",
        "",
        None,
        "Oracle to report earnings on Thursday",
    ], dtype=pl.String), lexicon).to_list()
    assert out[0] > 0
    assert out[1] < 0
    assert out[2] > 0
    assert out[3] == 0.0 and out[4] == 0.0
    assert label(pl.Series([out[5]])).to_list() == ["neutral"]


def test_ten_thousand_headlines_in_under_five_seconds_and_in_range(lexicon, labelled):
    texts = pl.Series(labelled["text"].to_list() * 45)[:10_000]
    started = time.perf_counter()
    scores = score(texts, lexicon)
    elapsed = time.perf_counter() - started
    assert scores.len() == 10_000
    assert elapsed < 5.0
    assert scores.is_between(-1.0, 1.0).all()


def test_lexicon_overrides_vader_where_markets_disagree(lexicon):
    values = dict(lexicon.filter(pl.col("token").is_in(
        ["shares", "demand", "plunges", "plunged", "beats", "fell", "surging"]
    )).iter_rows())
    assert values["shares"] == 0.0 and values["demand"] == 0.0
    assert values["plunges"] < 0 and values["plunged"] < 0 and values["fell"] < 0
    assert values["beats"] > 0 and values["surging"] > 0
