"""GX Data Docs for a run: a file-backed GX context under ``data/docs/`` built from the run's
validation results.

:func:`validate` (``expectations.runner``) runs each suite once on an *ephemeral* context
(pandas frames passed at run time cannot be re-read later, and a second validation would
double the cost). GX 1.24 builds Data Docs only from results held in a context's validation
results store, so :func:`build_data_docs` copies each outcome's own
``ExpectationSuiteValidationResult`` (``ValidationOutcome.gx_result``) into the file
context's store under a ``ValidationResultIdentifier`` (suite, run = our run_id, batch = the
dataset), saves each suite's expectations with their rule names, and asks GX to render
(``FileDataContext.build_data_docs``). Nothing is validated twice; the pages are GX's own
renderer output. Each expectation row shows two extra columns, ``rule`` and ``severity`` (GX's
``meta_properties`` rendering, driven by the stored suite's notes).

Layout (``root`` defaults to ``$AFTERSHOCK_DOCS_DIR`` or ``data/docs``)::

    <root>/gx/great_expectations.yml            the file context
    <root>/gx/expectations/<suite>.json          the suites, as last run
    <root>/gx/uncommitted/validations/...        every run's results (JSON)
    <root>/gx/uncommitted/data_docs/local_site/index.html   <- returned

Unexpected-value lists are cut to ``MAX_LISTED`` entries in the stored copies (the counts
stay exact), so a run that quarantines thousands of rows does not write megabytes of HTML.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from string import Template

import great_expectations as gx
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from expectations.runner import _GX_LOCK, _META_KEY, ValidationOutcome

__all__ = ["DEFAULT_DOCS_DIR", "MAX_LISTED", "build_data_docs", "docs_root", "index_path"]

DEFAULT_DOCS_DIR = "data/docs"
MAX_LISTED = 50
_SITE = "local_site"
_LISTS = ("unexpected_list", "unexpected_index_list", "partial_unexpected_list",
          "partial_unexpected_index_list")


def docs_root(root: str | os.PathLike | None = None) -> Path:
    """The Data Docs folder: the argument, else $AFTERSHOCK_DOCS_DIR, else data/docs."""
    return Path(root or os.environ.get("AFTERSHOCK_DOCS_DIR") or DEFAULT_DOCS_DIR)


def index_path(root: str | os.PathLike | None = None) -> Path:
    """Where the site's index.html is (whether or not it was built yet)."""
    return docs_root(root) / "gx" / "uncommitted" / "data_docs" / _SITE / "index.html"


def build_data_docs(
    outcomes: Sequence[ValidationOutcome],
    run_id: str,
    root: str | os.PathLike | None = None,
    run_time: datetime | None = None,
) -> Path:
    """Store ``outcomes``' GX results under ``run_id`` and (re)build the site; its index.html.

    Outcomes without a GX result (built by hand) are skipped. The index lists every run kept
    in ``root``, newest first.
    """
    folder = docs_root(root)
    folder.mkdir(parents=True, exist_ok=True)
    run = RunIdentifier(run_name=run_id, run_time=run_time or datetime.now(UTC))
    with _GX_LOCK:
        context = gx.get_context(mode="file", project_root_dir=str(folder.resolve()))
        context.enable_analytics(False)
        keys = []
        for outcome in outcomes:
            if outcome.gx_result is None:
                continue
            severity = dict(zip(outcome.results["expectation"], outcome.results["severity"],
                                strict=True))
            result = _annotated(outcome, severity, run)
            _save_suite(context, outcome, severity)
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=outcome.suite),
                run_id=run,
                batch_identifier=outcome.dataset or outcome.suite,
            )
            context.validation_results_store.set(key, result)
            keys.append(key)
        suites = [ExpectationSuiteIdentifier(name=o.suite) for o in outcomes if o.gx_result]
        context.build_data_docs(site_names=[_SITE], resource_identifiers=[*keys, *suites])
    return index_path(folder)


def _annotated(outcome: ValidationOutcome, severity: dict[str, str], run: RunIdentifier):
    """A copy of the GX result with our run, rule names and severities, and short lists."""
    result = copy.deepcopy(outcome.gx_result)
    result.meta["run_id"] = run
    result.meta["validation_time"] = run.run_time
    result.meta["aftershock_dataset"] = outcome.dataset
    for res in result.results:
        config = res.expectation_config
        name = (config.meta or {}).get(_META_KEY, "")
        config.description = _describe(config, name, severity.get(name, ""))
        for field in _LISTS:
            values = res.result.get(field)
            if isinstance(values, list) and len(values) > MAX_LISTED:
                res.result[field] = values[:MAX_LISTED]
    return result


def _describe(config, name: str, severity: str) -> str:
    """'[reject] close_above_high: <GX's own sentence for the expectation>'."""
    head = f"[{severity}] {name}"
    try:
        expectation = config.to_domain_obj()
        expectation.render()
        value = expectation.rendered_content[0].value
        params = {k: _plain(v.get("value")) for k, v in (value.params or {}).items()}
        text = Template(value.template).safe_substitute(params)
        if config.kwargs.get("or_equal") is False:  # GX 1.24's sentence ignores or_equal
            text = text.replace("greater than or equal to", "greater than")
    except Exception:  # no atomic renderer for this expectation: GX's type name will do
        text = config.type
    return f"{head}: {text}"


def _plain(value) -> str:
    if isinstance(value, (list, tuple, set)):
        return "{" + ", ".join(str(v) for v in value) + "}"
    return str(value)


def _save_suite(context, outcome: ValidationOutcome, severity: dict[str, str]) -> None:
    """Store the suite (its expectations and our rule columns) so the pages can show them."""
    expectations = []
    for res in outcome.gx_result.results:
        config = copy.deepcopy(res.expectation_config)
        name = (config.meta or {}).get(_META_KEY, "")
        config.description = _describe(config, name, severity.get(name, ""))
        expectations.append(config.to_domain_obj())
    suite = gx.ExpectationSuite(
        name=outcome.suite,
        expectations=expectations,
        meta={"aftershock_dataset": outcome.dataset},
    )
    try:
        existing = context.suites.get(outcome.suite)
    except Exception:  # not stored yet
        existing = None
    if existing is not None:
        context.suites.delete(outcome.suite)
    context.suites.add(suite)
