"""Bounded retries with exponential backoff and jitter, for calls to flaky remote services.

Hand-written because no retry library (tenacity, backoff, stamina) is installed in the
project environment; it is one small function so that the policy is explicit and testable:
the sleep function and the random source are injectable, so tests neither sleep nor guess.

The wait before retry ``k`` (k = 1, 2, ...) is drawn from ``[cap * (1 - jitter), cap]`` where
``cap = min(max_delay, base_delay * 2 ** (k - 1))``. With the default ``jitter=0.5`` (the
"equal jitter" scheme) the waits never shrink while the cap doubles, never exceed
``max_delay``, and two clients that failed together do not retry in lockstep.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

_default_rng = random.Random()


def backoff_delay(
    retry_number: int, *, base_delay: float, max_delay: float, jitter: float, rng: random.Random
) -> float:
    """The wait before retry ``retry_number`` (1-based); draws one number from ``rng``."""
    cap = min(max_delay, base_delay * 2 ** (retry_number - 1))
    return cap * (1.0 - jitter * rng.random())


def retry(
    call: Callable[[], T],
    *,
    attempts: int,
    base_delay: float,
    max_delay: float,
    retry_on: tuple[type[BaseException], ...],
    jitter: float = 0.5,
    sleep: Callable[[float], object] = time.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[int, BaseException, float], object] | None = None,
) -> T:
    """Call ``call()`` up to ``attempts`` times and return its first result.

    Only exceptions that are instances of ``retry_on`` are retried; any other exception
    propagates at once, unchanged. When the last attempt fails, its exception propagates
    unchanged (with a note saying how many attempts were made), so callers see the real type.

    ``on_retry(attempt, exc, delay)`` is called before each wait, e.g. to log; ``attempt`` is
    the 1-based number of the attempt that just failed.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    if base_delay < 0 or max_delay < 0:
        raise ValueError(f"delays must be >= 0, got base={base_delay}, max={max_delay}")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be within [0, 1], got {jitter}")
    if not isinstance(retry_on, tuple):
        raise TypeError("retry_on must be a tuple of exception types")
    rng = _default_rng if rng is None else rng

    attempt = 1
    while True:
        try:
            return call()
        except retry_on as exc:
            if attempt >= attempts:
                exc.add_note(f"gave up after {attempts} attempt(s)")
                raise
            delay = backoff_delay(
                attempt, base_delay=base_delay, max_delay=max_delay, jitter=jitter, rng=rng
            )
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            else:
                log.warning(
                    "attempt %d/%d failed (%r); retrying in %.2fs", attempt, attempts, exc, delay
                )
            sleep(delay)
            attempt += 1


def describe(exc: BaseException) -> str:
    """``Type: message`` on one line, for status messages and logs."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RetryPolicy:
    """One source's retry settings, so every call it makes retries the same way and says so
    in the same words (the log line on each retry, the status message when it gives up)."""

    def __init__(self, *, attempts: int, base_delay: float, max_delay: float,
                 sleep: Callable[[float], object] = time.sleep,
                 rng: random.Random | None = None) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        if base_delay < 0 or max_delay < 0:
            raise ValueError(f"delays must be >= 0, got base={base_delay}, max={max_delay}")
        self.attempts, self.base_delay, self.max_delay = attempts, base_delay, max_delay
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()

    def __call__(self, call: Callable[[], T], *, retry_on: tuple[type[BaseException], ...],
                 what: str, logger: logging.Logger | None = None) -> T:
        """``retry(call)`` with this policy; each retry logs ``<what>: attempt n/N failed``."""
        out = logger or log
        return retry(
            call, attempts=self.attempts, base_delay=self.base_delay, max_delay=self.max_delay,
            retry_on=retry_on, sleep=self.sleep, rng=self.rng,
            on_retry=lambda n, exc, delay: out.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.1fs",
                what, n, self.attempts, describe(exc), delay,
            ),
        )

    def gave_up(self, exc: BaseException) -> str:
        """The status message of a call that failed every attempt."""
        return f"{describe(exc)} (gave up after {self.attempts} attempts)"
