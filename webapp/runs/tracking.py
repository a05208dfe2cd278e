"""A StageRun's tracker run (Trackio locally, W&B when configured): opened by the stage, linked by the run page."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.urls import reverse

from pipeline.tracking import TrackerRun, open_run, read_trackio_artifacts, read_trackio_metrics, read_wandb_offline
from webapp.runs.models import StageRun
from webapp.runs.reporting import RunReporter


def tracking_dir() -> Path:
    return Path(settings.DATA_DIR) / "tracking"


def open_for(run: StageRun, reporter: RunReporter, *, model_id: str | None = None) -> TrackerRun:
    """One tracker run per stage run, tagged with what DESIGN §5 asks traces to carry."""
    dataset = run.dataset
    tags = {
        "run_id": str(run.pk),
        "scenario": run.kind,
        "dataset_version": dataset.version if dataset else "",
        "model_id": model_id or run.params.get("model_name") or run.params.get("predictor") or "",
    }
    return open_run(project=settings.FTLOOP_TRACKING_PROJECT, name=f"{run.kind}-{run.pk}", config=run.params,
                    tags=tags, directory=tracking_dir(), env=os.environ, on_log=reporter.on_log)


def metric_callback(reporter: RunReporter, tracker: TrackerRun) -> Callable[[str, int, float], None]:
    """An `on_metric(key, step, value)` that stores the value on the run row and logs it to the tracker run."""
    def on_metric(key: str, step: int, value: float) -> None:
        reporter.on_metric(key, step, value)
        tracker.log({key: value}, step=step)

    return on_metric


def result_fields(run: StageRun, tracker: TrackerRun) -> dict[str, Any]:
    """What a stage stores about its tracker run: the ref, and the URL the run page links to."""
    ref = tracker.ref()
    url = ref["url"] if str(ref.get("url") or "").startswith(("http://", "https://")) else None
    if ref["backend"] != "none" and not url:
        url = reverse("run_tracker", args=[run.pk])  # local runs (Trackio, W&B offline) are shown by ftloop itself
    return {"tracker": ref, "tracker_url": url} if url else {"tracker": ref}


def read_back(ref: dict[str, Any]) -> dict[str, Any]:
    """Metric series and artifacts of a local tracker run, for the tracker page."""
    if ref["backend"] == "trackio":
        return {"metrics": read_trackio_metrics(ref["project"], ref["run"], tracking_dir()),
                "artifacts": read_trackio_artifacts(ref["project"], ref["run"], tracking_dir())}
    if ref["backend"] == "wandb" and ref.get("dir") and Path(ref["dir"]).exists():
        found = read_wandb_offline(Path(ref["dir"]))
        return {"metrics": found["metrics"], "artifacts": found["artifacts"]}
    return {"metrics": {}, "artifacts": ref.get("artifacts", [])}
