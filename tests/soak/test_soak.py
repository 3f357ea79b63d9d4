"""The soak's short form, part of every test run (about 15 s).

``make soak`` runs the long form (1 GiB each way) before a release.
"""

from __future__ import annotations

import soak

MIB = 1024 * 1024


def test_a_short_soak_moves_every_byte_through_churn_kicks_and_refusals():
    report = soak.soak(megabytes=256, seconds=10, session_mb=3, seed=20261128)
    assert report.errors == [], report.text()
    # Enough happened for each kind of trouble to have come up.
    assert report.sessions >= 4, report.text()
    assert report.kicks >= 1 and report.refusals >= 4 and report.churn >= 3, report.text()
    # Every session moves 3 MiB each way, except a last one cut short by the
    # 256 MiB in all, which a fast machine reaches before the 10 s are up.
    expected = min(report.sessions * 3 * MIB, 256 * MIB)
    assert report.to_device == report.to_clients == expected, report.text()
