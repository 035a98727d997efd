"""sources.retry: bounded attempts, exponential backoff with jitter, only the listed errors."""

from __future__ import annotations

import random

import pytest

from sources.retry import backoff_delay, retry


class Flaky:
    """A call that raises the given exceptions in turn, then returns 'done'."""

    def __init__(self, *failures: BaseException):
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


def expected_delays(seed: int, n: int, *, base: float, cap: float, jitter: float = 0.5):
    rng = random.Random(seed)
    return [min(cap, base * 2**k) * (1 - jitter * rng.random()) for k in range(n)]


def test_first_success_returns_without_sleeping():
    sleeps: list[float] = []
    call = Flaky()
    assert (
        retry(
            call,
            attempts=3,
            base_delay=1,
            max_delay=10,
            retry_on=(TimeoutError,),
            sleep=sleeps.append,
        )
        == "done"
    )
    assert call.calls == 1
    assert sleeps == []


def test_retries_listed_errors_then_succeeds_with_seeded_jittered_delays():
    sleeps: list[float] = []
    call = Flaky(TimeoutError("slow"), ConnectionError("reset"))
    result = retry(
        call,
        attempts=5,
        base_delay=0.5,
        max_delay=10,
        retry_on=(TimeoutError, ConnectionError),
        sleep=sleeps.append,
        rng=random.Random(7),
    )
    assert result == "done"
    assert call.calls == 3
    assert sleeps == pytest.approx(expected_delays(7, 2, base=0.5, cap=10))


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 42])
def test_attempts_are_bounded_and_delays_grow_then_cap(seed):
    sleeps: list[float] = []
    call = Flaky(*[TimeoutError(f"t{i}") for i in range(10)])
    with pytest.raises(TimeoutError, match="t5") as info:
        retry(
            call,
            attempts=6,
            base_delay=1,
            max_delay=5,
            retry_on=(TimeoutError,),
            sleep=sleeps.append,
            rng=random.Random(seed),
        )
    assert call.calls == 6  # bounded: the 7th failure is never reached
    assert "gave up after 6 attempt(s)" in info.value.__notes__
    assert sleeps == pytest.approx(expected_delays(seed, 5, base=1, cap=5))
    caps = [1, 2, 4, 5, 5]
    for delay, cap in zip(sleeps, caps, strict=True):
        assert cap / 2 <= delay <= cap  # equal jitter: within [cap/2, cap], never above max
    # while the cap doubles, the jittered ranges [c/2, c] and [c, 2c] cannot overlap
    assert sleeps[0] <= sleeps[1] <= sleeps[2]


def test_non_retryable_error_propagates_immediately():
    sleeps: list[float] = []
    call = Flaky(ValueError("bad input"), TimeoutError("never reached"))
    with pytest.raises(ValueError, match="bad input"):
        retry(
            call,
            attempts=5,
            base_delay=1,
            max_delay=5,
            retry_on=(TimeoutError,),
            sleep=sleeps.append,
        )
    assert call.calls == 1
    assert sleeps == []


def test_keyboard_interrupt_is_not_retried_unless_listed():
    call = Flaky(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        retry(
            call, attempts=5, base_delay=1, max_delay=5, retry_on=(Exception,), sleep=lambda _: None
        )
    assert call.calls == 1


def test_single_attempt_means_no_retry():
    call = Flaky(TimeoutError("once"))
    with pytest.raises(TimeoutError):
        retry(
            call,
            attempts=1,
            base_delay=1,
            max_delay=5,
            retry_on=(TimeoutError,),
            sleep=lambda _: pytest.fail("must not sleep"),
        )
    assert call.calls == 1


def test_on_retry_sees_attempt_error_and_delay():
    seen = []
    call = Flaky(TimeoutError("a"), TimeoutError("b"))
    retry(
        call,
        attempts=3,
        base_delay=2,
        max_delay=3,
        retry_on=(TimeoutError,),
        jitter=0,
        sleep=lambda _: None,
        on_retry=lambda n, exc, d: seen.append((n, str(exc), d)),
    )
    assert seen == [(1, "a", 2.0), (2, "b", 3.0)]  # no jitter: 2, then 4 capped at 3


def test_backoff_delay_without_jitter_is_plain_capped_exponential():
    rng = random.Random(0)
    delays = [
        backoff_delay(k, base_delay=0.25, max_delay=1.5, jitter=0, rng=rng) for k in range(1, 6)
    ]
    assert delays == [0.25, 0.5, 1.0, 1.5, 1.5]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempts": 0},
        {"base_delay": -1},
        {"max_delay": -1},
        {"jitter": 1.5},
    ],
)
def test_rejects_nonsense_settings(kwargs):
    settings = {"attempts": 3, "base_delay": 1, "max_delay": 5, "retry_on": (TimeoutError,)}
    with pytest.raises(ValueError):
        retry(Flaky(), **{**settings, **kwargs})


def test_retry_on_must_be_a_tuple():
    with pytest.raises(TypeError):
        retry(Flaky(), attempts=3, base_delay=1, max_delay=5, retry_on=[TimeoutError])
