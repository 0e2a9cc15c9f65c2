"""Summarise a py-spy profile of a bench run: share of samples per thread, and the top functions.

    .venv/bin/py-spy record --gil --threads --format raw -o /tmp/chain.raw -- \\
        .venv/bin/python -m bench --only chain10_serial --no-peers --set runs=200
    .venv/bin/python -m bench.profiling /tmp/chain.raw

`--gil` samples only the thread holding the GIL, i.e. where Python time goes; without it, threads that wait
(on a queue, on fsync) are counted too, which shows wall time instead.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path


def summarise(path: Path, top: int) -> str:
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        first, *frames = stack.split(";")
        thread = re.sub(r"_\d+$", "", re.sub(r"\(\d+\)", "", first).strip())  # pool threads as one
        threads[thread] += samples
        functions = [re.sub(r":\d+\)$", ")", f) for f in frames]  # per function, not per line
        if functions:
            own[functions[-1]] += samples
        for function in set(functions):
            inclusive[function] += samples
    if not total:
        return f"{path}: no samples"
    out = [f"{total} samples"]
    out += ["", "by thread:"] + [f"{n / total:6.1%}  {t}" for t, n in threads.most_common()]
    out += ["", "self:"] + [f"{n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    out += ["", "inclusive:"] + [f"{n / total:6.1%}  {f}" for f, n in inclusive.most_common(top * 2)]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profiling", description=__doc__.split("\n")[0])
    parser.add_argument("raw", type=Path, help="py-spy output written with --format raw")
    parser.add_argument("--top", type=int, default=30, help="how many functions to list")
    args = parser.parse_args(argv)
    print(summarise(args.raw, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
