"""Headline sentiment: the labelled set, the shipped scorer's measured quality and speed, and
the benchmark that chose it (bench/sentiment.py)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from transforms.sentiment import (
    NEUTRAL_BAND,
    build_lexicon,
    default_scorer,
    evaluate,
    label,
    read_vader_lexicon,
)

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ROOT / "tests" / "fixtures" / "news" / "headlines_labelled.csv"


def load_bench():
    spec = importlib.util.spec_from_file_location("_bench_sentiment", ROOT / "bench" /
                                                  "sentiment.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_bench()


@pytest.fixture(scope="module")
def scorer():
    return default_scorer()


@pytest.fixture(scope="module")
def labelled() -> pl.DataFrame:
    return pl.read_csv(LABELLED)


def test_the_evaluation_set_is_big_balanced_and_honestly_split(labelled):
    assert labelled.columns == ["text", "label", "split", "origin"]
    assert labelled.height >= 200
    assert labelled["text"].is_unique().all()
    counts = dict(labelled.group_by("label").len().iter_rows())
    assert set(counts) == {"positive", "negative", "neutral"} and min(counts.values()) >= 150
    test = labelled.filter(pl.col("split") == "test")
    assert test.height >= 250 and set(test["label"]) == {"positive", "negative", "neutral"}
    # the rows written by the lexicon's first author are all training rows now
    assert set(labelled.filter(pl.col("origin") == "written-v1")["split"]) == {"train"}
    assert set(labelled.filter(pl.col("origin") == "written-v3")["split"]) == {"train"}
    # every published (real) headline is held out
    real = labelled.filter(pl.col("origin").str.starts_with("real"))
    assert real.height >= 100 and set(real["split"]) == {"test"}


def test_the_issue_examples_get_the_market_sign(scorer):
    scores = scorer.score(pl.Series([
        "Nvidia shares plunge 17% as DeepSeek rattles AI trade",
        "ASML beats estimates, orders surge on AI demand",
    ])).to_list()
    assert scores[0] < -0.5 and scores[1] > 0.5


def test_plain_vader_gets_the_issue_examples_wrong():
    vader = pytest.importorskip("vaderSentiment.vaderSentiment")
    analyzer = vader.SentimentIntensityAnalyzer()
    plunge = analyzer.polarity_scores("Nvidia shares plunge 17% as DeepSeek rattles AI trade")
    beats = analyzer.polarity_scores("ASML beats estimates, orders surge on AI demand")
    assert plunge["compound"] == pytest.approx(0.296, abs=1e-3)
    assert beats["compound"] < 0


def test_held_out_accuracy_and_macro_f1(scorer, labelled):
    test = labelled.filter(pl.col("split") == "test")
    metrics = evaluate(scorer.label(test["text"]), test["label"])
    # the figures docs/news.md reports (bench/sentiment.py)
    assert metrics["n"] == 260
    assert metrics["accuracy"] == pytest.approx(216 / 260)  # 0.831
    assert metrics["macro_f1"] == pytest.approx(0.824, abs=5e-4)
    real = test.filter(pl.col("origin").str.starts_with("real"))
    assert evaluate(scorer.label(real["text"]), real["label"])["accuracy"] == pytest.approx(
        82 / 110)  # 0.745 on published headlines


def test_plain_vader_is_measurably_worse(scorer, labelled):
    vader = pytest.importorskip("vaderSentiment.vaderSentiment")
    analyzer = vader.SentimentIntensityAnalyzer()
    test = labelled.filter(pl.col("split") == "test")
    plain = pl.Series([analyzer.polarity_scores(t)["compound"] for t in test["text"]])
    ours = evaluate(scorer.label(test["text"]), test["label"])
    theirs = evaluate(label(plain), test["label"])
    assert theirs["accuracy"] < 0.60 < 0.80 < ours["accuracy"]


def test_the_shipped_band_is_the_one_chosen_on_the_training_split(bench, scorer, labelled):
    train = labelled.filter(pl.col("split") == "train")
    scores = scorer.score(train["text"]).to_numpy()
    assert bench.best_band(scores, train["label"].to_list()) == NEUTRAL_BAND == scorer.band


def test_negation_contrast_and_edge_cases(scorer):
    out = scorer.score(pl.Series([
        "Nvidia shares do not fall",
        "Broadcom shares slip despite strong results",
        "Nvidia rebounds 9% after record selloff",
        "",
        None,
        "Oracle to report earnings on Thursday",
        "Our approach to frontier AI safety",  # general words carry no market direction
    ], dtype=pl.String)).to_list()
    assert out[0] > 0
    assert out[1] < 0
    assert out[2] > 0
    assert out[3] == 0.0 and out[4] == 0.0
    assert label(pl.Series(out[5:])).to_list() == ["neutral", "neutral"]


def test_ten_thousand_headlines_in_under_five_seconds_and_in_range(scorer, labelled):
    texts = pl.Series(labelled["text"].to_list() * 14)[:10_000]
    started = time.perf_counter()
    scores = scorer.score(texts)
    elapsed = time.perf_counter() - started
    assert scores.len() == 10_000
    assert elapsed < 5.0
    assert scores.is_between(-1.0, 1.0).all()


def test_lexicon_weights_and_inflections():
    lexicon = build_lexicon(read_vader_lexicon(), general_weight=1.0)
    values = dict(lexicon.filter(pl.col("token").is_in(
        ["shares", "demand", "plunges", "plunged", "beats", "fell", "surging", "tanked", "good"]
    )).iter_rows())
    assert "shares" not in values and "demand" not in values  # neutralised
    assert values["plunges"] < 0 and values["plunged"] < 0 and values["fell"] < 0
    assert values["beats"] > 0 and values["surging"] > 0 and values["tanked"] < 0
    assert values["good"] == pytest.approx(1.9)  # VADER's own at weight 1
    shipped = dict(build_lexicon().iter_rows())  # weight 0: market vocabulary only
    assert "good" not in shipped and shipped["plunged"] == values["plunged"]


def test_bench_reports_every_candidate_or_why_not(bench, labelled):
    """The bench's table on a small slice (the full run is `python bench/sentiment.py`)."""
    data = pl.concat([labelled.filter(pl.col("split") == s).head(60) for s in ("train", "test")])

    def missing(_train):
        raise bench.Unavailable("needs the network")

    results = [
        bench.measure("plain", bench.vader, data, data["text"].to_list()),
        bench.measure("shipped", bench.shipped, data, data["text"].to_list()),
        bench.measure("offline-only", missing, data, data["text"].to_list()),
    ]
    table = bench.table(results)
    assert "offline-only" in table and "unavailable: needs the network" in table
    plain, shipped, gone = results
    assert not gone["available"] and shipped["available"] and plain["available"]
    assert shipped["test_accuracy"] > plain["test_accuracy"]
    assert 0.0 <= shipped["test_macro_f1"] <= 1.0 and shipped["headlines_per_s"] > 0
    assert plain["band"] in bench.BANDS and shipped["band"] is None  # the scorer's own labels


def test_finvader_lexicons_are_read_without_importing_finvader(bench):
    if importlib.util.find_spec("finvader") is None:
        pytest.skip("finvader not installed")
    sys.modules.pop("finvader", None)
    sbn, henry = bench.finvader_lexicons()
    assert "finvader" not in sys.modules  # its __init__ would download NLTK data
    assert len(sbn) > 1000 and len(henry) > 100
    assert henry["threats"] == -1.5
    assert np.isclose(max(abs(v) for v in sbn.values()), 0.1, atol=0.05)  # scaled by 0.1
