"""Instructions per ``infer``/``train`` call, counted by valgrind: a measure of the work one
estimate does that a noisy, shared machine cannot blur (wall-clock timings on such machines
vary by 1.5x or more between runs). Run by hand; needs ``valgrind`` on the PATH::

    .venv/bin/python benchmarks/instructions.py          # about two minutes
    .venv/bin/python benchmarks/instructions.py -n 50    # fewer calls per count

Each count runs the same varied-workload calls as ``bench_core.py`` (d) under callgrind,
collecting only inside the timed loop (the loop runs inside ``functools.reduce``, which
callgrind toggles collection on), and divides by the number of calls.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CALLS = ("infer (all quantities)", "infer (tpot_s, ttft_s, throughput)",
         "train (all quantities)", "train (step_s, tokens_per_s, mfu)")


def child(name: str, n: int) -> None:
    import gc

    import bench_core
    calls = {**bench_core.real_calls(), **bench_core.cold_calls()}
    fn = calls[name]
    for _ in range(20):  # warm: programs compiled, static values kept
        fn()
    gc.disable()
    functools.reduce(lambda acc, _: fn(), range(n), None)


def count(name: str, n: int) -> float:
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         "--collect-atstart=no", "--toggle-collect=functools_reduce",
         sys.executable, __file__, "--child", name, "-n", str(n)],
        capture_output=True, text=True, env=env, check=True)
    found = re.search(r"Collected\s*:\s*(\d+)", out.stderr)
    if not found:
        raise SystemExit(f"no instruction count from valgrind for {name!r}:\n{out.stderr[-2000:]}")
    return int(found.group(1)) / n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100, help="calls per count (default 100)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("-n must be >= 1")
    if args.child:
        child(args.child, args.n)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing to count (apt install valgrind)")
        return 1
    names = list(CALLS) + [f"cold {c}" for c in CALLS]
    for i, name in enumerate(names, 1):
        print(f"   [{i}/{len(names)}] {name:<45} {count(name, args.n) / 1e3:8.0f} k instructions "
              f"per call", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
