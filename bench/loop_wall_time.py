"""The main job's wall time: ``python -m webapp.launch --exit-when-done`` (the default 2-cycle loop, headless, in a
scratch data directory), timed end to end, with its time per stage and its final metric tables.

``--baseline KEY=VALUE ...`` runs the job a second time, back to back, with those training settings (the
launcher's ``--set``), and prints the ratio of the two wall times: e.g. the training configuration before the
speed work, ``--baseline bf16=false group_by_length=false``. The machine's load average is printed before and
after each run: a busy machine makes the number meaningless.

    python bench/loop_wall_time.py                                    # the default main job, once
    python bench/loop_wall_time.py --baseline bf16=false group_by_length=false
    python bench/loop_wall_time.py --launcher-args --size 400 --cycles 1   # a smaller job
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("On the ", "Cycle over cycle", "Time per stage", "Verdicts", "loop_completion_rate", "Nothing promoted",
            "In service")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_job(label: str, settings: list[str], launcher_args: list[str]) -> tuple[float, int, list[str]]:
    """(wall seconds, exit status, the launcher's output lines) of one main job in a scratch data directory."""
    with tempfile.TemporaryDirectory(prefix=f"ftloop-loop-{label}-") as data_dir:
        env = {**os.environ, "FTLOOP_DATA_DIR": data_dir, "FTLOOP_ADMIN_PASSWORD": "bench", "PYTHONUNBUFFERED": "1"}
        env.pop("REDIS_URL", None)  # the embedded Redis, as `make run` has it
        argv = [sys.executable, "-m", "webapp.launch", "--exit-when-done", "--port", str(free_port()),
                *launcher_args, *(arg for setting in settings for arg in ("--set", setting))]
        print(f"[{label}] load average before: {os.getloadavg()[0]:.2f}; {' '.join(argv[1:])}", flush=True)
        started = time.monotonic()
        lines = []
        with subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as process:
            for line in process.stdout:
                lines.append(line.rstrip("\n"))
                if "%" in line or line.startswith("Main job"):
                    print(f"[{label}] {line.rstrip()}", flush=True)
        wall = time.monotonic() - started
        print(f"[{label}] load average after: {os.getloadavg()[0]:.2f}", flush=True)
        return wall, process.returncode, lines


def summary(lines: list[str]) -> list[str]:
    """The launcher's closing sections: metric tables, cycle-over-cycle changes, time per stage, verdicts."""
    starts = [index for index, line in enumerate(lines) if line.startswith(SECTIONS)]
    return lines[starts[0]:] if starts else lines[-40:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", nargs="+", metavar="KEY=VALUE",
                        help="run a second job with these training settings and print the wall-time ratio")
    parser.add_argument("--launcher-args", nargs=argparse.REMAINDER, default=[],
                        help="passed to webapp.launch as they are (everything after this flag)")
    args = parser.parse_args()

    jobs = [("current", [])] + ([("baseline", args.baseline)] if args.baseline else [])
    results = {}
    for label, settings in jobs:
        wall, status, lines = run_job(label, settings, args.launcher_args)
        results[label] = wall
        print(f"\n===== {label}{' (' + ' '.join(settings) + ')' if settings else ''}: "
              f"{wall / 60:.1f} min ({wall:.0f} s), exit status {status}")
        print("\n".join(summary(lines)), flush=True)
    if args.baseline:
        print(f"\nwall time current/baseline: {results['current'] / results['baseline']:.2f} "
              f"({results['current']:.0f} s vs {results['baseline']:.0f} s)")
    print(f"\nbudget: the default main job within 20 min: {'PASS' if results['current'] <= 1200 else 'FAIL'} "
          f"({results['current'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
