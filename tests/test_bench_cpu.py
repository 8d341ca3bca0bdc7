"""The stage benchmarks' timing rule (bench_cpu.best_cpu)."""

from __future__ import annotations

from ses_sigma.bench_cpu import best_cpu


def test_best_cpu_calls_the_step_repeat_times_and_returns_the_last_result() -> None:
    calls: list[int] = []

    def step() -> int:
        calls.append(len(calls))
        return len(calls)

    best, out = best_cpu(3, step)
    assert calls == [0, 1, 2] and out == 3
    assert best >= 0.0
    calls.clear()
    assert best_cpu(0, step)[1] == 1 and calls == [0]  # at least once
