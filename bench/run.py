#!/usr/bin/env python3
"""Benchmark pyser2net against ser2net: ``python bench/run.py [--quick] [--json FILE]``.

Every scenario runs once per round for each daemon, interleaved (pyser2net,
ser2net, pyser2net, ser2net, ...), so that a change in machine load hits
both alike; the latency scenarios run both daemons at once and take their
round trips in turns.  The table shows the median over the rounds.  See README.md in
this directory for what each number means.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemons import (  # noqa: E402
    DaemonError,
    PortTaken,
    Target,
    pyser2net_target,
    ser2net_target,
)
from scenarios import PAIRED, SCENARIOS, BenchError, Sizes  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

FULL = Sizes()
QUICK = Sizes(
    payload_mib=8,
    fanout_mib=2,
    round_trips=500,
    round_trips_chardelay=200,
    hold_samples=100,
    idle_seconds=3.0,
    flood_seconds=3.0,
    farm_seconds=3.0,
)
#: How often a scenario is run when another process took one of its ports
#: (see daemons.PortTaken) before the round is reported failed.
PORT_ATTEMPTS = 3
#: Scenarios that take seconds of wall time whatever the daemon: fewer rounds.
SLOW = {"idle": 1, "stalled": 1, "farm": 3}

PY, C = "pyser2net", "ser2net"
#: ``--before CMD``: another pyser2net (an earlier version), measured in the
#: same run, in turns with the other two.
BEFORE = "before"

# -- targets ------------------------------------------------------------------

#: A check takes (pyser2net value, ratio pyser2net / ser2net or None) and
#: returns (target text, "met" / "missed" / "n/a").
Check = Callable[[float, Optional[float]], Tuple[str, str]]


def ratio_of(py: float, c: Optional[float]) -> Optional[float]:
    if c is None:
        return None
    if c == 0:
        return 1.0 if py == 0 else math.inf
    return py / c


def ratio_at_least(x: float) -> Check:
    def check(_py: float, ratio: Optional[float]) -> Tuple[str, str]:
        if ratio is None:
            return f">= {x:g}x", "n/a"
        return f">= {x:g}x", "met" if ratio >= x else "missed"

    return check


def ratio_at_most(x: float) -> Check:
    def check(_py: float, ratio: Optional[float]) -> Tuple[str, str]:
        if ratio is None:
            return f"<= {x:g}x", "n/a"
        return f"<= {x:g}x", "met" if ratio <= x else "missed"

    return check


def at_most(limit: float, text: str, strict: bool = False) -> Check:
    def check(py: float, _ratio: Optional[float]) -> Tuple[str, str]:
        ok = py < limit if strict else py <= limit
        return text, "met" if ok else "missed"

    return check


def hold_us(speed: int) -> float:
    """ser2net's default chardelay hold: 2 character times (8N1), at least 1 ms."""
    return max(2 * 10 * 1e6 / speed, 1000.0)


#: Waking up at the end of a hold and sending takes some tens of microseconds
#: in any implementation; the hold may run over by this fraction.
HOLD_TOLERANCE = 0.1


@dataclass
class Row:
    metric: str
    label: str
    unit: str
    digits: int
    check: Optional[Check] = None


def rows(sizes: Sizes) -> List[Row]:
    cpu = ratio_at_most(0.3)
    tput = ratio_at_least(3)
    hold = hold_us(sizes.speed)
    return [
        Row("tput_n2d_off.mbps", "throughput net->device, chardelay off", "MB/s", 1, tput),
        Row("tput_d2n_off.mbps", "throughput device->net, chardelay off", "MB/s", 1, tput),
        Row("tput_n2d_on.mbps", "throughput net->device, chardelay on", "MB/s", 1, tput),
        Row("tput_d2n_on.mbps", "throughput device->net, chardelay on", "MB/s", 1, tput),
        Row("tput_n2d_off.cpu", "CPU net->device, chardelay off", "s/100MB", 2, cpu),
        Row("tput_d2n_off.cpu", "CPU device->net, chardelay off", "s/100MB", 2, cpu),
        Row("tput_n2d_on.cpu", "CPU net->device, chardelay on", "s/100MB", 2, cpu),
        Row("tput_d2n_on.cpu", "CPU device->net, chardelay on", "s/100MB", 2, cpu),
        Row("tls_n2d.mbps", "TLS (ssl,tcp) throughput net->device", "MB/s", 1),
        Row("tls_d2n.mbps", "TLS (ssl,tcp) throughput device->net", "MB/s", 1),
        Row("tls_n2d.cpu", "CPU TLS net->device", "s/100MB", 2),
        Row("tls_d2n.cpu", "CPU TLS device->net", "s/100MB", 2),
        Row(
            "latency_off.median_us",
            "1-byte round trip, chardelay off, median",
            "us",
            0,
            ratio_at_most(1.1),
        ),
        Row("latency_off.p99_us", "1-byte round trip, chardelay off, p99", "us", 0),
        Row("latency_on.median_us", "1-byte round trip, chardelay on, median", "us", 0),
        Row("latency_on.p99_us", "1-byte round trip, chardelay on, p99", "us", 0),
        Row("hold.off_us", "1 byte device->client, chardelay off, median", "us", 0),
        Row("hold.on_us", "1 byte device->client, chardelay on, median", "us", 0),
        Row(
            "hold.added_us",
            "held by chardelay (median on - median off)",
            "us",
            0,
            at_most(
                hold * (1 + HOLD_TOLERANCE),
                f"~{hold / 1000:g} ms (<= {hold * (1 + HOLD_TOLERANCE) / 1000:g} ms)",
            ),
        ),
        Row(
            "fanout.mbps",
            f"fan-out to {sizes.fanout_clients} clients, aggregate",
            "MB/s",
            1,
            ratio_at_least(5),
        ),
        Row("fanout.cpu", f"CPU fan-out to {sizes.fanout_clients} clients", "s/100MB", 2),
        Row(
            "startup.accept_s",
            f"start until {sizes.startup_ports} ports accept",
            "s",
            3,
            at_most(0.2, "<= 0.2 s"),
        ),
        Row("startup.serve_s", f"start until {sizes.startup_ports} devices got a byte", "s", 3),
        Row(
            "startup.rss_mib",
            f"RSS when {sizes.startup_ports} ports accept",
            "MiB",
            1,
            ratio_at_most(2.5),
        ),
        Row(
            "idle.ticks",
            f"CPU ticks in {sizes.idle_seconds:g} s idle, {sizes.idle_clients} clients",
            "ticks",
            0,
            at_most(0, "0"),
        ),
        Row(
            "stalled.growth_kib",
            f"peak RSS growth, 1 stalled client, {sizes.flood_seconds:g} s flood",
            "KiB",
            0,
            at_most(1_000_000 / 1024, "< 1 MB", strict=True),
        ),
        Row("stalled.reader_kib", "  bytes the reading client got meanwhile", "KiB", 0),
        Row(
            "farm.cpu_pct",
            f"console farm: {sizes.farm_ports} consoles, CPU",
            "% core",
            1,
            ratio_at_most(0.6),
        ),
        Row("farm.user_pct", "  of which in the daemon's own code (user)", "% core", 1),
        Row("farm.system_pct", "  of which in the kernel for it (system)", "% core", 1),
        Row("farm.delivered_mb", "  device bytes delivered, checked in order", "MB", 2),
        Row("farm.scheduled_mb", "  device bytes the schedule asked for", "MB", 2),
        Row("farm.wakeups_per_s", "  daemon wake-ups (voluntary context switches)", "/s", 0),
        Row("farm.rss_mib", "  RSS at the end", "MiB", 1),
    ]


# -- running ------------------------------------------------------------------


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_all(
    targets: List[Target],
    names: List[str],
    rounds: int,
    sizes: Sizes,
) -> List[Dict[str, Any]]:
    runs: List[Dict[str, Any]] = []
    for rnd in range(1, rounds + 1):
        for name in names:
            if rnd > SLOW.get(name, rounds):
                continue
            # A paired scenario measures pyser2net and ser2net in one run;
            # the others run once per daemon, one after the other.
            paired = [t for t in targets if t.name != BEFORE]
            groups = [paired] if name in PAIRED else [[t] for t in targets]
            for group in groups:
                runs += run_one(name, group, rnd, rounds, sizes)
    return runs


def run_one(
    name: str,
    group: List[Target],
    rnd: int,
    rounds: int,
    sizes: Sizes,
) -> List[Dict[str, Any]]:
    began = time.monotonic()
    for attempt in range(1, PORT_ATTEMPTS + 1):
        error = None
        try:
            if name in PAIRED:
                results = SCENARIOS[name](group, sizes)  # type: ignore[arg-type]
            else:
                results = {group[0].name: SCENARIOS[name](group[0], sizes)}  # type: ignore[arg-type]
        except PortTaken as exc:
            error = f"{type(exc).__name__}: {exc}"
            if attempt < PORT_ATTEMPTS:
                log(f"[{rnd}/{rounds}] {name:13} {exc}; running it again on other ports")
                began = time.monotonic()
                continue
        except (BenchError, DaemonError, OSError, subprocess.SubprocessError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        break
    seconds = round(time.monotonic() - began, 2)
    records = []
    for target in group:
        record: Dict[str, Any] = {
            "round": rnd,
            "scenario": name,
            "target": target.name,
            "seconds": seconds,
        }
        if error is None:
            record["metrics"] = results[target.name]
        else:
            record["error"] = error
        records.append(record)
        shown = record.get("error") or ", ".join(
            f"{k} {v:.4g}" for k, v in record["metrics"].items()
        )
        log(f"[{rnd}/{rounds}] {name:13} {target.name:9} {seconds:5.1f}s  {shown}")
    return records


def medians(runs: List[Dict[str, Any]]) -> Dict[str, Dict[str, float]]:
    samples: Dict[str, Dict[str, List[float]]] = {}
    for r in runs:
        for key, value in r.get("metrics", {}).items():
            samples.setdefault(r["target"], {}).setdefault(f"{r['scenario']}.{key}", []).append(
                value
            )
    return {
        t: {k: statistics.median(v) for k, v in metrics.items()} for t, metrics in samples.items()
    }


def paired_ratios(runs: List[Dict[str, Any]]) -> Dict[str, float]:
    """For paired scenarios: the median over the rounds of each round's ratio.

    Both daemons of a round met the same machine, so their ratio is the
    comparison; the medians of the two columns may come from different
    rounds, and the machine's speed moved more between rounds than the
    daemons differ.
    """
    rounds: Dict[Tuple[str, int], Dict[str, Dict[str, float]]] = {}
    for r in runs:
        if r["scenario"] in PAIRED and "metrics" in r:
            rounds.setdefault((r["scenario"], r["round"]), {})[r["target"]] = r["metrics"]
    ratios: Dict[str, List[float]] = {}
    for (scenario, _), by_target in rounds.items():
        if PY in by_target and C in by_target:
            for key, py in by_target[PY].items():
                ratio = ratio_of(py, by_target[C].get(key))
                if ratio is not None:
                    ratios.setdefault(f"{scenario}.{key}", []).append(ratio)
    return {k: statistics.median(v) for k, v in ratios.items()}


# -- reporting ------------------------------------------------------------------


def _first_line(argv: List[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout else ""


def machine(targets: List[Target]) -> Dict[str, str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": str(os.cpu_count() or 0),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    for t in targets:
        info[t.name] = t.version
    commit = _first_line(["git", "rev-parse", "--short", "HEAD"])
    if commit:
        dirty = _first_line(["git", "status", "--porcelain", "--untracked-files=no", "pyser2net"])
        info["commit"] = commit + (" (pyser2net/ modified)" if dirty else "")
    return info


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def fmt(value: Optional[float], digits: int) -> str:
    if value is None:
        return "error"
    return f"{value:,.{digits}f}"


def table(
    sizes: Sizes, med: Dict[str, Dict[str, float]], paired: Dict[str, float], have_c: bool
) -> Tuple[List[str], List[Dict[str, Any]]]:
    before = med.get(BEFORE)
    if before is None:
        lines = [
            "| measurement | unit | pyser2net | ser2net | ratio | target | result |",
            "|---|---|---:|---:|---:|---|---|",
        ]
    else:
        lines = [
            "| measurement | unit | before | pyser2net | ser2net | ratio before | ratio "
            "| target | result |",
            "|---|---|---:|---:|---:|---:|---:|---|---|",
        ]
    out: List[Dict[str, Any]] = []
    py_m, c_m = med.get(PY, {}), med.get(C, {})
    for row in rows(sizes):
        py, c = py_m.get(row.metric), c_m.get(row.metric)
        ratio = None
        if py is not None and have_c:
            ratio = paired.get(row.metric, ratio_of(py, c))
        shown = shown_ratio(ratio)
        target, result = "", ""
        if row.check is not None:
            if py is None:
                target, result = row.check(0.0, None)[0], "error"
            else:
                target, result = row.check(py, ratio)
        c_text = fmt(c, row.digits) if have_c else "-"
        record = {
            "metric": row.metric,
            "label": row.label,
            "unit": row.unit,
            PY: py,
            C: c,
            "ratio": ratio,
            "target": target,
            "result": result,
        }
        if before is None:
            lines.append(
                f"| {row.label} | {row.unit} | {fmt(py, row.digits)} | "
                f"{c_text} | {shown} | {target} | {result} |"
            )
        else:
            # Paired scenarios do not run the earlier version: "-" there.
            was = before.get(row.metric)
            was_ratio = ratio_of(was, c) if was is not None and have_c else None
            lines.append(
                f"| {row.label} | {row.unit} | {fmt(was, row.digits) if was is not None else '-'} "
                f"| {fmt(py, row.digits)} | {c_text} | {shown_ratio(was_ratio)} | {shown} "
                f"| {target} | {result} |"
            )
            record[BEFORE] = was
            record["ratio_before"] = was_ratio
        out.append(record)
    return lines, out


def shown_ratio(ratio: Optional[float]) -> str:
    return f"{ratio:.2f}x" if ratio is not None and math.isfinite(ratio) else "-"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, --quick 1)")
    parser.add_argument("--json", metavar="FILE", help="also write every sample and the table")
    parser.add_argument(
        "--only", metavar="NAMES", help="comma-separated scenarios: " + ",".join(SCENARIOS)
    )
    parser.add_argument(
        "--pyser2net",
        metavar="CMD",
        help="command that starts pyser2net (default: this python -m pyser2net)",
    )
    parser.add_argument(
        "--before",
        metavar="CMD",
        help="command that starts an earlier pyser2net, measured in the same run "
        "(not in the paired scenarios) and shown in a column of its own",
    )
    parser.add_argument("--ser2net", metavar="PATH", help="the ser2net binary (default: PATH)")
    parser.add_argument("--no-ser2net", action="store_true", help="measure pyser2net alone")
    args = parser.parse_args(argv)

    sizes = QUICK if args.quick else FULL
    rounds = args.rounds or (1 if args.quick else 5)
    names = list(SCENARIOS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in SCENARIOS]
        if unknown:
            parser.error(f"unknown scenario(s): {', '.join(unknown)}")

    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        targets = [pyser2net_target(args.pyser2net, pycache)]
        if args.before:
            targets.insert(0, replace(pyser2net_target(args.before, pycache), name=BEFORE))
        c_target = None if args.no_ser2net else ser2net_target(args.ser2net)
        if c_target is not None:
            targets.append(c_target)
        elif not args.no_ser2net:
            log("ser2net not found: measuring pyser2net alone (no ratios)")

        info = machine(targets)
        when = datetime.datetime.now(datetime.timezone.utc)
        load_before = loadavg()
        began = time.monotonic()
        for target in targets:
            try:
                target.warm_up()
            except DaemonError as exc:
                log(f"warm-up failed: {exc}")
        runs = run_all(targets, names, rounds, sizes)
        elapsed = time.monotonic() - began
    med = medians(runs)
    lines, table_rows = table(sizes, med, paired_ratios(runs), c_target is not None)
    if args.only:
        wanted = tuple(f"{n}." for n in names)
        keep = [i for i, r in enumerate(table_rows) if r["metric"].startswith(wanted)]
        lines = lines[:2] + [lines[i + 2] for i in keep]
        table_rows = [table_rows[i] for i in keep]

    header = [
        f"pyser2net benchmark, {when:%Y-%m-%d %H:%M} UTC "
        f"({'quick' if args.quick else 'full'} run, {rounds} round{'s' if rounds > 1 else ''}, "
        "daemons interleaved, medians)",
        "(latency and hold: both daemons at once, samples in turns; "
        "ratio = median of the rounds' ratios)",
        "",
        f"machine: {info['cpu']}, {info['cores']} cores, Linux {info['kernel']}, "
        f"Python {info['python']}",
        f"versions: pyser2net {info[PY]}"
        + (f" (commit {info['commit']})" if "commit" in info else "")
        + (f", ser2net {info[C]}" if C in info else "")
        + (f"; before: {args.before} ({info[BEFORE]})" if BEFORE in info else ""),
        f"devices: ptys at {sizes.speed} baud; load average before {load_before}, "
        f"after {loadavg()}; {elapsed:.0f} s",
        "",
    ]
    errors = [r for r in runs if "error" in r]
    print("\n".join(header + lines))
    for r in errors:
        print(f"\nerror in round {r['round']}, {r['scenario']}, {r['target']}: {r['error']}")
    sys.stdout.flush()
    if args.json:
        result = {
            "date": when.isoformat(timespec="seconds"),
            "mode": "quick" if args.quick else "full",
            "rounds": rounds,
            "elapsed_s": round(elapsed, 1),
            "machine": info,
            "load_before": load_before,
            "sizes": asdict(sizes),
            "runs": runs,
            "medians": med,
            "table": table_rows,
        }
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
