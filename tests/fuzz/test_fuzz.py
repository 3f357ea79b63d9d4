"""The fuzzer's short form, part of every test run (about 20 s in all).

Every kept input (``tests/fixtures/fuzz/TARGET/``) and every seed is
replayed, then each target gets a few seconds of fresh mutations from a
fixed seed.  ``make fuzz`` runs the long form.
"""

from __future__ import annotations

import pytest

import fuzzer
from fuzz_targets import TARGETS

#: Seconds of fresh mutations per target, after the replay.
SECONDS = 2.5
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
