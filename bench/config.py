#!/usr/bin/env python3
"""How configuration reading scales: ``python bench/config.py [--max-kib N]``.

For each shape of file (many connections, long values, many defines,
continuation lines, errors on every line...) the file is built at sizes
doubling up to ``--max-kib`` and read as ``--check`` reads it.  The table
shows microseconds per KiB of input at each size; a shape whose cost per
KiB grows with the size is worse than linear (the last column is the ratio
of the largest size's cost per KiB to the smallest's: about 1 is linear).
Files are written to a temporary directory, so includes and ``*{file}``
inserts are real.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyser2net.config import ConfigError, load_file  # noqa: E402

CONN = "connection: &c{i}\n  accepter: tcp,{port}\n  connector: serialdev,/dev/ttyS0,9600n81\n"


def yaml_connections(n: int) -> str:
    return "".join(CONN.format(i=i, port=2000 + i % 60000) for i in range(n // 80))


def yaml_long_banner(n: int) -> str:
    return CONN.format(i=0, port=2000) + "  options:\n    banner: '" + "ab\\r\\n" * (n // 6) + "'\n"


def yaml_defines(n: int) -> str:
    defines = "".join(f"define: &d{i} '*(d{i - 1})x'\n" for i in range(1, n // 30))
    return "define: &d0 x\n" + defines + CONN.format(i=0, port=2000)


def yaml_substitutions(n: int) -> str:
    return (
        "define: &a x\n"
        + CONN.format(i=0, port=2000)
        + "  options:\n    banner: '"
        + "*(a)" * (n // 4)
        + "'\n"
    )


def yaml_options(n: int) -> str:
    options = "".join(f"    chardelay-scale: {i % 100 + 1}\n" for i in range(n // 26))
    return CONN.format(i=0, port=2000) + "  options:\n" + options


def yaml_errors(n: int) -> str:
    return "".join(
        f"connection: &c{i}\n  accepter: tcp,{i}x\n  connector: echo\n" for i in range(n // 50)
    )


def yaml_includes(n: int) -> str:
    return "".join("include: part.yaml\n" for _ in range(min(n // 19, 900)))


def legacy_ports(n: int) -> str:
    return "".join(
        f"{2000 + i % 60000}:raw:0:/dev/ttyS0:9600 8DATABITS NONE\n" for i in range(n // 45)
    )


def legacy_long_banner(n: int) -> str:
    return "BANNER:b:" + "ab\\r\\n" * (n // 6) + "\n2000:raw:0:/dev/ttyS0:9600 b\n"


def legacy_continuations(n: int) -> str:
    return "2000:raw:0:/dev/ttyS0:9600 \\\n" + "8DATABITS \\\n" * (n // 11) + "NONE\n"


def legacy_words(n: int) -> str:
    return "2000:raw:0:/dev/ttyS0:9600 " + "XONXOFF " * (n // 8) + "\n"


def legacy_errors(n: int) -> str:
    return "".join(f"{i}x:raw:0:/dev/ttyS0:9600\n" for i in range(n // 26))


SHAPES: List[Tuple[str, str, Callable[[int], str]]] = [
    ("yaml", "connections", yaml_connections),
    ("yaml", "long banner", yaml_long_banner),
    ("yaml", "chained defines", yaml_defines),
    ("yaml", "substitutions", yaml_substitutions),
    ("yaml", "options", yaml_options),
    ("yaml", "an error per entry", yaml_errors),
    ("yaml", "includes", yaml_includes),
    ("conf", "port lines", legacy_ports),
    ("conf", "long banner", legacy_long_banner),
    ("conf", "continuation lines", legacy_continuations),
    ("conf", "option words", legacy_words),
    ("conf", "an error per line", legacy_errors),
]


def read_time(path: Path) -> float:
    start = time.perf_counter()
    try:
        load_file(str(path))
    except ConfigError:
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-kib", type=int, default=16)
    parser.add_argument("--max-kib", type=int, default=1024)
    args = parser.parse_args()
    sizes = []
    size = args.min_kib
    while size <= args.max_kib:
        sizes.append(size)
        size *= 2
    print(f"configuration reading, microseconds per KiB of input, Python {sys.version.split()[0]}")
    print(f"  {'shape':<28}" + "".join(f"{s:>8}K" for s in sizes) + "   ratio")
    with tempfile.TemporaryDirectory(prefix="pyser2net-bench-") as tmp:
        folder = Path(tmp)
        (folder / "part.yaml").write_text("define: &p part\n")
        for kind, name, build in SHAPES:
            costs = []
            for kib in sizes:
                text = build(kib * 1024)
                path = folder / f"bench.{kind}"
                path.write_text(text)
                seconds = min(read_time(path) for _ in range(2))
                costs.append(seconds * 1e6 / (len(text.encode()) / 1024))
            row = "".join(f"{c:9.0f}" for c in costs)
            print(f"  {kind + ' ' + name:<28}{row}   {costs[-1] / costs[0]:5.1f}", flush=True)


if __name__ == "__main__":
    main()
