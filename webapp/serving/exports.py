"""Exports of a model for fast inference, as a stage row (DESIGN §3b): an ONNX int8 head, or GGUF Q8_0 of a
generative model (with its merged safetensors). An export is checked against the PyTorch model on a frozen set
of the task before it is offered (its result's ``parity.passed``); only a checked export can be downloaded or
answer the prediction API."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from django.db import transaction

from pipeline.data.jsonl import read_jsonl, write_json
from pipeline.eval.predictors import build_predictor
from pipeline.infer.cls_head import is_head_adapter
from pipeline.tasks.predictors import Predictor
from pipeline.tasks.registry import Task
from pipeline.train.sft import sha256_file
from webapp.datasets.models import FrozenEvalSet
from webapp.runs import services
from webapp.runs.models import StageRun
from webapp.runs.reporting import RunReporter
from webapp.serving.models import RegisteredModel

ONNX_INT8 = "onnx_int8"
GGUF_Q8_0 = "gguf_q8_0"
FORMATS = {ONNX_INT8: "ONNX, int8 weights (a head: one forward pass)",
           GGUF_Q8_0: "GGUF Q8_0 and merged safetensors (a generative model)"}
# How far an export's headline metric may drift from the PyTorch model's on the frozen set (issue #15).
MAX_DELTA = {ONNX_INT8: 0.5, GGUF_Q8_0: 1.0}
PARITY_ROWS = 200  # the frozen set's first rows the parity check reads
CARD_NAME = "ftloop_export_card.json"


def formats_for(model: RegisteredModel) -> list[str]:
    """What a model can be exported as: a local head to ONNX, a local generative adapter to GGUF, a remote model
    to nothing (its weights are not ours)."""
    if model.kind != RegisteredModel.Kind.TRAINED or not Path(model.artifact).is_dir():
        return []
    return [ONNX_INT8] if is_head_adapter(model.artifact) else [GGUF_Q8_0]


def default_eval_set(model: RegisteredModel) -> FrozenEvalSet | None:
    """The set a parity check reads unless one is chosen: the model's training data's own, else the task's newest."""
    own = model.source_run.dataset.frozen_eval_set if model.source_run_id else None
    return own or FrozenEvalSet.objects.filter(task_type=model.task_type).order_by("-pk").first()


def start_export(model: RegisteredModel, fmt: str, user=None, eval_set: FrozenEvalSet | None = None) -> StageRun:
    """Queue an export of `model` as `fmt`; a ValueError says why it cannot be."""
    if fmt not in formats_for(model):
        offered = ", ".join(formats_for(model)) or "nothing (only local models' weights are ours to export)"
        raise ValueError(f"model #{model.pk} exports as {offered}, not {fmt!r}")
    eval_set = eval_set or default_eval_set(model)
    if eval_set is None or eval_set.task_type != model.task_type:
        raise ValueError(f"an export is checked on a frozen {model.task_type} set, and there is none")
    with transaction.atomic():
        run = StageRun.objects.create(kind=StageRun.Kind.EXPORT, dataset=model.source_run.dataset, created_by=user,
                                      params={"model_id": model.pk, "format": fmt, "eval_set_id": eval_set.pk})
    services.enqueue([run])
    return run


def _reference(task: Task, model: RegisteredModel) -> Predictor:
    return build_predictor(task, "fine_tuned", model_name=model.base_model, adapter=model.artifact,
                           decode="constrained" if task.constrained_decoding else None)


def export(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The worker's export stage: write the export into the run directory, then check it against the PyTorch model
    on the frozen set's first PARITY_ROWS rows."""
    model = RegisteredModel.objects.get(pk=run.params["model_id"])
    task, fmt = model.task, run.params["format"]
    eval_set = FrozenEvalSet.objects.get(pk=run.params["eval_set_id"])
    rows = read_jsonl(eval_set.path)[:PARITY_ROWS]
    out = run.directory / "export"
    reporter.on_log(f"exporting model #{model.pk} ({model.name}) as {fmt}")
    reporter.on_progress(0, 3)
    if fmt == ONNX_INT8:
        from pipeline.export.onnx_head import export_head_onnx

        exported: Any = export_head_onnx(model.base_model, model.artifact, out)
    else:
        from pipeline.export.gguf_export import export_gguf

        exported = export_gguf(model.base_model, model.artifact, out)
    reporter.on_progress(1, 3)
    reporter.on_log(f"checking the export against the PyTorch model on {len(rows)} rows of set "
                    f"{eval_set.content_hash[:12]}")
    from pipeline.export.parity import check_parity

    candidate = export_predictor(task, fmt, out)
    reporter.on_progress(2, 3)
    parity = check_parity(task, _reference(task, model), candidate, rows, max_mae_delta=MAX_DELTA[fmt],
                          on_log=reporter.on_log)
    reporter.on_progress(3, 3)
    reporter.on_log(f"parity {'passed' if parity.passed else 'FAILED'}: {parity.reason}")
    card = write_card(out, fmt, model, eval_set, _plain(parity))
    return {"task": task.name, "model_id": model.pk, "format": fmt, "directory": str(out),
            "eval_set_hash": eval_set.content_hash, "export": _plain(exported), "parity": _plain(parity),
            "card": card.name}


def runtime_versions(fmt: str) -> dict[str, str]:
    """The libraries that wrote the export and those that serve it."""
    import importlib.metadata

    names = ["torch", "transformers", *(["onnx", "onnxruntime"] if fmt == ONNX_INT8 else ["gguf"])]
    return {name: importlib.metadata.version(name) for name in names}


def write_card(directory: Path, fmt: str, model: RegisteredModel, eval_set: FrozenEvalSet,
               parity: dict[str, Any]) -> Path:
    """The export's card, CARD_NAME beside its files: what it is, every file's size and SHA-256, the parity
    numbers it was offered on and the runtime versions."""
    files = [{"name": path.relative_to(directory).as_posix(), "bytes": path.stat().st_size,
              "sha256": sha256_file(path)}
             for path in sorted(directory.rglob("*")) if path.is_file() and path.name != CARD_NAME]
    return write_json(directory / CARD_NAME, {
        "format": fmt, "task": model.task_type,
        "model": {"id": model.pk, "name": model.name, "base_model": model.base_model, "trainer": model.trainer,
                  "artifact": model.artifact, "train_data_hash": model.train_data_hash},
        "parity": {**parity, "eval_set_hash": eval_set.content_hash}, "files": files,
        "runtime_versions": runtime_versions(fmt)})


def _plain(value: Any) -> Any:
    """A dataclass as JSON-ready data (paths as strings, at any depth)."""
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value) if isinstance(value, Path) else value


def export_predictor(task: Task, fmt: str, directory: Path) -> Predictor:
    """The predictor of an export in `directory` (also the cache's loader in webapp.playground.inference)."""
    if fmt == ONNX_INT8:
        from pipeline.infer.onnx_head import OnnxHeadPredictor

        return OnnxHeadPredictor(directory, name=fmt, task=task)
    from pipeline.export.gguf_export import gguf_predictor

    return gguf_predictor(task, directory / f"model-{fmt.removeprefix('gguf_')}.gguf",
                          decode="constrained" if task.constrained_decoding else None)


def run_predictor(task: Task, run: StageRun) -> Predictor:
    """The predictor of a finished export run."""
    return export_predictor(task, run.params["format"], Path(run.result["directory"]))


def export_files(run: StageRun) -> list[str]:
    """A checked export's files, relative to its directory (what its page offers for download)."""
    directory = Path(run.result["directory"])
    return sorted(path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file())


def export_file(run: StageRun, name: str) -> Path:
    """One file of a checked export; a ValueError for an unchecked export or a name that is not one of its files."""
    if not (run.result.get("parity") or {}).get("passed"):
        raise ValueError(f"export #{run.pk} did not pass its parity check: it is not offered")
    if name not in export_files(run):
        raise ValueError(f"export #{run.pk} has no file {name!r}")
    return Path(run.result["directory"]) / name
