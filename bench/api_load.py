"""The prediction API under load: N concurrent clients for S seconds against a real server (manage.py runserver)
on 127.0.0.1, answering from a head in service: its ONNX int8 export (default) or the PyTorch model.

Prints the API's end-to-end p50/p95 (HTTP, JSON, auth, rate limit, the model) and the error count, against the
baseline measured in the same run: the same predictor called in-process, one request at a time. Not a test:
only the ratio within one run means anything (issue #15 asks for 20 clients x 60 s with 0 errors).

    python bench/api_load.py --train-steps 20                 # a quick reg_head on SmolLM2, exported, then 20 x 60 s
    python bench/api_load.py --adapter runs/7/adapter --torch # the PyTorch model in service, no export
    python bench/api_load.py --adapter A --clients 20 --seconds 30
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXTS = ["loud drums for the boss fight", "a calm harp under the rain", "retro chiptune for the arcade level",
         "sad violin at the funeral", "bright festival brass in the square", "eerie ambient drones in the cave"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, key: str, text: str) -> tuple[int, float]:
    request = urllib.request.Request(url, json.dumps({"text": text}).encode(), method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            ok = json.loads(response.read()).get("valid") is True
            return (response.status if ok else 599), (time.perf_counter() - started) * 1000
    except urllib.error.HTTPError as error:
        return error.code, (time.perf_counter() - started) * 1000
    except OSError:
        return 0, (time.perf_counter() - started) * 1000


def serve(data_dir: Path, adapter: str, model_name: str, export_dir: Path | None) -> str:
    """Migrate a fresh database under `data_dir`, put the head (or its export) in service, return an API key."""
    os.environ["FTLOOP_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from webapp.datasets.models import Dataset
    from webapp.runs.models import StageRun
    from webapp.serving import registry, releases, tokens

    call_command("migrate", interactive=False, verbosity=0)
    dataset = Dataset.objects.create(name="api bench", task_type="hidden_params")
    train = StageRun.objects.create(kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS, dataset=dataset,
                                    params={"trainer": "reg_head", "model_name": model_name},
                                    result={"adapter_dir": adapter})
    model = registry.register_run(train)
    if export_dir is not None:  # checked by this bench against PyTorch before it is served (see main)
        StageRun.objects.create(kind=StageRun.Kind.EXPORT, status=StageRun.Status.SUCCESS, dataset=dataset,
                                params={"model_id": model.pk, "format": "onnx_int8"},
                                result={"task": "hidden_params", "directory": str(export_dir),
                                        "parity": {"passed": True}})
    releases.promote(model, "api bench")
    return tokens.create_token("api bench", rate_per_minute=1_000_000)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-name", default=None, help="the head's base model (default: the bundled SmolLM2)")
    source = parser.add_mutually_exclusive_group()  # neither: --train-steps 20 (what `make bench` runs)
    source.add_argument("--adapter", help="a trained head's adapter directory (with cls_head.json)")
    source.add_argument("--train-steps", type=int, help="train a quick regression head of this many steps first")
    parser.add_argument("--torch", action="store_true", help="serve the PyTorch model instead of its ONNX export")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()

    from export_latency import train_quick_head
    from inference_latency import percentile

    from pipeline.export.onnx_head import export_head_onnx
    from pipeline.export.parity import check_parity
    from pipeline.infer.cls_head import HeadPredictor
    from pipeline.infer.onnx_head import OnnxHeadPredictor
    from pipeline.tasks.registry import get_task
    from pipeline.train.base_models import DEFAULT_BASE_MODEL

    task = get_task("hidden_params")
    model_name = args.model_name or DEFAULT_BASE_MODEL
    work = Path(tempfile.mkdtemp(prefix="ftloop-api-bench-"))
    adapter = args.adapter or train_quick_head(model_name, task, args.train_steps or 20, 200, 12, work / "head")
    torch_head = HeadPredictor(model_name, adapter, task=task)
    export_dir, served = None, torch_head
    if not args.torch:
        export_dir = export_head_onnx(model_name, adapter, work / "export").directory
        served = OnnxHeadPredictor(export_dir, task=task)
        rows = task.generate(size=100, seed=5, language="en").rows
        parity = check_parity(task, torch_head, served, rows)
        print(f"export parity on 100 generated rows: {'PASS' if parity.passed else 'FAIL'} ({parity.reason})")
        if not parity.passed:
            raise SystemExit("the export failed its parity check: not served")
    direct = [served.predict([TEXTS[i % len(TEXTS)]])[0].latency_ms for i in range(60)]

    key = serve(work / "data", adapter, model_name, export_dir)
    port = free_port()
    env = {**os.environ, "FTLOOP_TORCH_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/v1/hidden_params/predict"
    try:
        deadline = time.monotonic() + 60
        while post(url, key, "warm up")[0] != 200:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not answer within 60 s")
            time.sleep(0.5)
        stop = time.monotonic() + args.seconds

        def client(number: int) -> list[tuple[int, float]]:
            results = []
            while time.monotonic() < stop:
                results.append(post(url, key, f"{TEXTS[number % len(TEXTS)]} #{number}"))
            return results

        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            calls = [call for results in pool.map(client, range(args.clients)) for call in results]
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies = [ms for _, ms in calls]
    errors = [status for status, _ in calls if status != 200]
    what = "PyTorch head" if args.torch else "ONNX int8 export"
    print(f"served: {what} of {adapter}")
    print(f"in-process, one at a time: p50 {percentile(direct, 50):.1f} ms, p95 {percentile(direct, 95):.1f} ms")
    print(f"API, {args.clients} clients x {args.seconds:.0f} s: {len(calls)} requests ({len(calls) / args.seconds:.0f}/s), "
          f"{len(errors)} errors, p50 {percentile(latencies, 50):.1f} ms, p95 {percentile(latencies, 95):.1f} ms")
    print(f"ratio API p95 / in-process p95: {percentile(latencies, 95) / percentile(direct, 95):.2f}")
    if errors:
        raise SystemExit(f"{len(errors)} requests failed (statuses {sorted(set(errors))})")


if __name__ == "__main__":
    main()
