"""Count the robustness table's outcomes: ``python -m tests.robustness.report [--details]``.

Runs every scenario of ``scenarios.py`` against the installed (or ``PYTHONPATH``) ageshift and prints how
many ended as a clear error, a correct result, a traceback, a silently wrong result or a data loss.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import signal
import tempfile
from pathlib import Path

import torch

from .harness import OUTCOMES, classify
from .scenarios import all_scenarios

MEMORY_LIMIT = 12 * 2**30  # a scenario that tries to allocate more is a crash, not a machine-wide OOM
TIME_LIMIT_S = 300


def run_isolated(scenario, folder: Path, shared: dict) -> tuple[str, str]:
    """Run one scenario in a forked child with bounded memory and time: (category, detail)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: judge the scenario, send the verdict, never return into the parent's loop
        os.close(read_end)
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        try:
            argv, inputs, expect = scenario.setup(folder, shared)
            outcome = classify(argv, inputs, expect)
            verdict = [outcome.category, outcome.detail]
        except BaseException as error:  # noqa: BLE001  the code under test broke the scenario's own setup
            verdict = ["traceback", f"setup failed: {error!r}"]
        os.write(write_end, json.dumps(verdict).encode())
        os._exit(0)
    os.close(write_end)
    signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGKILL))
    signal.alarm(TIME_LIMIT_S)
    _, status = os.waitpid(pid, 0)
    signal.alarm(0)
    with os.fdopen(read_end) as pipe:
        message = pipe.read()
    if not message:
        return "traceback", f"the process died (wait status {status}): out of memory or killed"
    category, detail = json.loads(message)
    return category, detail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--details", action="store_true", help="print every scenario that is not good")
    parser.add_argument(
        "--skip", nargs="*", default=[], help="leave out these commands (to compare versions)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    counts: collections.Counter[str] = collections.Counter()
    bad = []
    with tempfile.TemporaryDirectory() as root:
        shared = {"root": Path(root) / "shared"}
        shared["root"].mkdir()
        scenarios = [s for s in all_scenarios() if s.name.split(":")[0] not in args.skip]
        for index, scenario in enumerate(scenarios):
            folder = Path(root) / f"{index:03d}"
            folder.mkdir()
            category, detail = run_isolated(scenario, folder, shared)
            counts[category] += 1
            if category not in ("clear error", "correct"):
                bad.append((scenario.name, category, detail))
    total = sum(counts.values())
    print(f"{total} scenarios: " + ", ".join(f"{counts[name]} {name}" for name in OUTCOMES))
    if args.details:
        for name, category, detail in bad:
            print(f"  {category:13s} {name}: {detail[:160]}")


if __name__ == "__main__":
    main()
