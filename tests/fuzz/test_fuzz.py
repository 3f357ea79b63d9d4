"""The fuzzer's short form, part of every test run (about 20 s in all).

Every kept input (``tests/fixtures/fuzz/TARGET/``) and every seed is
replayed, then each target gets a few seconds of fresh mutations from a
fixed seed.  ``make fuzz`` runs the long form.  The fuzzer itself is
checked too: each way an input can fail is found and named.
"""

from __future__ import annotations

import pytest

import fuzzer
from fuzz_targets import TARGETS

#: Seconds of fresh mutations per target, after the replay.
SECONDS = 1.5
#: A machine busy with other tests may be slow: only a real hang counts here
#: (``make fuzz`` holds every input to 2 s).
HANG_SECONDS = 5.0


def describe(report: fuzzer.Report) -> str:
    lines = [
        f"{report.target}: {report.tried} inputs, {len(report.crashes)} crashes, "
        f"{len(report.hangs)} hangs"
    ]
    for data, detail in (report.crashes + report.hangs)[:3]:
        lines.append(f"input {data[:300]!r}\n{detail}")
    return "\n".join(lines)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_target_survives_its_corpus_and_a_short_run(target: str) -> None:
    report = fuzzer.campaign(
        target, seed=20261128, seconds=SECONDS, count=None, hang_seconds=HANG_SECONDS
    )
    assert report.tried > len(fuzzer.corpus_files(target))
    assert not report.crashes and not report.hangs, describe(report)


def test_each_failure_is_found_on_its_input_and_the_rest_still_run() -> None:
    # ok, crash, ok, hang, ok, die, hang-unseen, ok: a crash, a worker killed
    # under an input, a hang its timer reports and one only the parent's
    # backstop can end; every input after each still runs.
    report = fuzzer.campaign(
        "faults", seed=1, seconds=None, count=None, hang_seconds=0.3, replay_only=True
    )
    assert report.tried == 8
    assert [data for data, _ in report.crashes] == [b"crash", b"die"]
    assert "ValueError: a crash on purpose" in report.crashes[0][1]
    assert "worker died" in report.crashes[1][1]
    assert [data for data, _ in report.hangs] == [b"hang", b"hang-unseen"]
    assert "still running after" in report.hangs[0][1]
    assert "killed" in report.hangs[1][1]
    assert report.slowest >= 0.3


def test_a_count_is_met_exactly_by_two_workers_with_a_fixed_share_of_large_inputs() -> None:
    report = fuzzer.campaign(
        "nothing", seed=3, seconds=None, count=2 * fuzzer.LARGE_EVERY + 7, hang_seconds=5.0, jobs=2
    )
    assert report.tried == 1 + 2 * fuzzer.LARGE_EVERY + 7  # the seed, then the count
    assert report.large == 2
    assert not report.crashes and not report.hangs


def test_a_batch_is_the_same_whoever_makes_it() -> None:
    seeds = fuzzer.load_seeds("telnet")
    first = fuzzer.batch_inputs("telnet", seeds, 21, fuzzer.LARGE_EVERY // fuzzer.BATCH - 1)
    again = fuzzer.batch_inputs("telnet", seeds, 21, fuzzer.LARGE_EVERY // fuzzer.BATCH - 1)
    assert first == again and len(first) == fuzzer.BATCH
    assert len(first[-1]) > 2048 >= max(len(data) for data in first[:-1])
