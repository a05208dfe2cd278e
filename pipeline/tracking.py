"""Experiment tracking behind one interface: W&B, Trackio (local) or none.

`open_run` picks the backend from the environment (DESIGN §5):

- ``FTLOOP_TRACKING=wandb|trackio|none`` forces one;
- otherwise W&B when ``WANDB_API_KEY`` is set or ``WANDB_MODE=offline``
  (``WANDB_MODE=disabled`` means "not W&B");
- otherwise Trackio, writing a local SQLite database (no account, no network).

The ``env`` argument decides the backend, the W&B mode and key; wandb and
trackio take their own directories from the process environment.

``WANDB_MODE=offline`` is honoured: the run is written under ``directory``
(``<directory>/wandb/offline-run-*``), system stats and machine-info probes
are switched off, and nothing is sent; ``wandb sync <ref()['dir']>`` uploads it
later. W&B keeps staged artifact copies under ``WANDB_DATA_DIR``, its core log
under ``WANDB_CACHE_DIR``, reads its settings from ``WANDB_CONFIG_DIR`` and
downloads into ``WANDB_ARTIFACT_DIR``; these default to the home directory and
the working directory, so unless the environment names them, a W&B run points
them under ``<directory>/wandb-home`` (process-wide: wandb reads them from
``os.environ``, and its core service keeps the values it started with).
wandb 0.28 writes the API key into none of these files (checked by
tests/unit/test_tracking.py); this module never puts it into a message, a
config or `TrackerRun.ref`, and drops config entries named like credentials.

Trackio keeps its root directory in module globals, so a process tracks into
one Trackio directory at a time: `open_run` points it at
``<directory>/trackio`` for the life of the run. When ``HF_TOKEN`` is set,
trackio asks the Hub once per process for the user name it stores in the
run's config.

Keys pass through unchanged (``train/loss``, ``eval/loss``, ``json_valid_rate``,
``p95_inference_latency_ms``...), so the web app, W&B and Trackio show the
same names.

Weave traces (`trace_predictions`) need the ``weave`` package, a key and
online mode; otherwise they are a no-op that says why, once per process.
They are tagged with dataset_version, model_id, run_id and scenario.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any
from urllib.parse import quote

from pipeline.tasks.predictors import Prediction, Predictor

BACKENDS = ("wandb", "trackio", "none")

LogCallback = Callable[[str], None]
Series = dict[str, list[tuple[int, float]]]

logger = logging.getLogger(__name__)

_OFFLINE_MODES = {"offline", "dryrun"}
_SECRET_CONFIG_KEY = re.compile(r"(api[_-]?key|token|secret|password)", re.IGNORECASE)
_ARTIFACT_NAME_FORBIDDEN = re.compile(r"[^A-Za-z0-9._-]+")
_WANDB_TAG_MAX = 64
_WANDB_HEADER_BYTES = 7  # a .wandb file that holds no record yet
_WANDB_WRITE_TIMEOUT_S = 60.0
# wandb's own directories (module docstring) -> their place under <directory>/wandb-home.
_WANDB_HOME_DIRS = {"WANDB_CACHE_DIR": "cache", "WANDB_DATA_DIR": "data", "WANDB_CONFIG_DIR": "config",
                    "WANDB_ARTIFACT_DIR": "artifacts"}


def choose_backend(env: Mapping[str, str] = os.environ) -> str:
    """The backend `open_run` would use under `env`; a bad FTLOOP_TRACKING raises."""
    forced = env.get("FTLOOP_TRACKING", "").strip().lower()
    mode = env.get("WANDB_MODE", "").strip().lower()
    if forced:
        if forced not in BACKENDS:
            raise ValueError(f"FTLOOP_TRACKING must be one of {', '.join(BACKENDS)}, not {forced!r}")
        if forced == "wandb" and (mode == "disabled" or not (env.get("WANDB_API_KEY") or _wandb_offline(env))):
            raise ValueError("FTLOOP_TRACKING=wandb needs WANDB_API_KEY or WANDB_MODE=offline (not disabled)")
        return forced
    if mode != "disabled" and (env.get("WANDB_API_KEY") or mode in _OFFLINE_MODES):
        return "wandb"
    return "trackio"


def _wandb_offline(env: Mapping[str, str]) -> bool:
    return env.get("WANDB_MODE", "").strip().lower() in _OFFLINE_MODES


def _say(message: str, on_log: LogCallback | None) -> None:
    if on_log is not None:
        on_log(message)
    else:
        logger.info(message)


def _public_config(config: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """`config` without entries that look like credentials: trackers store and display the config."""
    key = env.get("WANDB_API_KEY")
    return {
        name: value
        for name, value in config.items()
        if not _SECRET_CONFIG_KEY.search(str(name)) and not (key and value == key)
    }


def _scalars(metrics: Mapping[str, float | int | None]) -> dict[str, float]:
    """Numbers only, as floats; None (a metric that does not apply, e.g. no cost model) is left out."""
    values = {}
    for key, value in metrics.items():
        if value is None:
            continue
        if not isinstance(value, (int, float)):
            raise TypeError(f"metric {key!r} must be a number, not {type(value).__name__}")
        values[key] = float(value)
    return values


def artifact_name(name: str) -> str:
    """A name both W&B and Trackio accept (letters, digits, dot, underscore, hyphen)."""
    cleaned = _ARTIFACT_NAME_FORBIDDEN.sub("-", name).strip("-")
    if not cleaned:
        raise ValueError(f"artifact name {name!r} has no usable characters")
    return cleaned


class TrackerRun:
    """One tracked run. This base class is the "none" backend: it records artifact paths and nothing else.

    Use as a context manager, or call `finish` yourself; a run that leaves its
    `with` block on an exception is finished as failed.
    """

    backend = "none"

    def __init__(self, project: str, name: str) -> None:
        self.project = project
        self.name = name
        # One entry per logged artifact: {"name", "type", "path", "ref"}; ref is what to show or link.
        self.artifacts: list[dict[str, str]] = []
        self.finished = False

    def log(self, metrics: Mapping[str, float | int | None], step: int | None = None) -> None:
        """Log metrics at `step` (None: the backend's next step); keys are kept as given."""
        _scalars(metrics)

    def log_artifact(self, path: Path, name: str, type: str, metadata: Mapping[str, Any] | None = None) -> str:
        """Record a file or directory (dataset, adapter, eval-summary); returns its reference."""
        return self._remember(path, artifact_name(name), type, str(path))

    def summary(self, metrics: Mapping[str, float | int | None]) -> None:
        """The run's final numbers (eval metrics)."""
        _scalars(metrics)

    def finish(self, failed: bool = False) -> None:
        """Close the run; later calls do nothing."""
        self.finished = True

    def ref(self) -> dict[str, Any]:
        """What the web app shows and links: backend, project, run, url, dir, artifacts."""
        return {
            "backend": self.backend,
            "project": self.project,
            "run": self.name,
            "url": self._url(),
            "dir": str(self._dir()) if self._dir() else None,
            "artifacts": [dict(artifact) for artifact in self.artifacts],
        }

    def _url(self) -> str | None:
        return None

    def _dir(self) -> Path | None:
        return None

    def _remember(self, path: Path, name: str, type: str, reference: str) -> str:
        self.artifacts.append({"name": name, "type": type, "path": str(path), "ref": reference})
        return reference

    def __enter__(self) -> TrackerRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish(failed=exc_type is not None)


class WandbRun(TrackerRun):
    """A W&B run, online or offline (``WANDB_MODE=offline``)."""

    backend = "wandb"

    def __init__(
        self,
        project: str,
        name: str,
        config: Mapping[str, Any],
        tags: Mapping[str, str],
        directory: Path,
        env: Mapping[str, str],
    ) -> None:
        import wandb

        super().__init__(project, name)
        self.offline = _wandb_offline(env)
        directory.mkdir(parents=True, exist_ok=True)
        for variable, subdirectory in _WANDB_HOME_DIRS.items():
            os.environ.setdefault(variable, str(directory.resolve() / "wandb-home" / subdirectory))
        settings = wandb.Settings(
            silent=True,
            console="off",  # the web app keeps its own log tail
            x_disable_stats=self.offline,
            x_disable_machine_info=self.offline,
            api_key=None if self.offline else env.get("WANDB_API_KEY"),
        )
        self._run = wandb.init(
            project=project,
            name=name,
            dir=str(directory),
            config=config,
            tags=[f"{key}:{value}"[:_WANDB_TAG_MAX] for key, value in tags.items()],
            mode="offline" if self.offline else "online",
            reinit="create_new",  # several runs may share a worker process
            settings=settings,
        )

    def log(self, metrics: Mapping[str, float | int | None], step: int | None = None) -> None:
        self._run.log(_scalars(metrics), step=step)

    def log_artifact(self, path: Path, name: str, type: str, metadata: Mapping[str, Any] | None = None) -> str:
        import wandb

        name = artifact_name(name)
        artifact = wandb.Artifact(name, type=type, metadata=dict(metadata or {}))
        if path.is_dir():
            artifact.add_dir(str(path))
        else:
            artifact.add_file(str(path))
        self._run.log_artifact(artifact)
        if self.offline:
            reference = f"{self.project}/{name}:latest"
        else:
            reference = f"{self._run.settings.project_url}/artifacts/{quote(type)}/{name}"
        return self._remember(path, name, type, reference)

    def summary(self, metrics: Mapping[str, float | int | None]) -> None:
        self._run.summary.update(_scalars(metrics))

    def finish(self, failed: bool = False) -> None:
        """Finish the run; offline, also wait until wandb-core has written it to disk."""
        if self.finished:
            return
        self._run.finish(exit_code=1 if failed else 0)
        self.finished = True
        if self.offline and not _wait_for_exit_record(Path(self._run.settings.sync_file)):
            logger.warning("W&B offline run %s not completely written after %ss", self._dir(), _WANDB_WRITE_TIMEOUT_S)

    def _url(self) -> str | None:
        # Offline runs have no URL yet: the local run directory is what `wandb sync` takes.
        return str(self._dir()) if self.offline else self._run.settings.run_url or None

    def _dir(self) -> Path:
        return Path(self._run.settings.sync_dir)


_trackio_lock = threading.Lock()


def _point_trackio_at(root: Path) -> Path:
    """Make trackio read and write under `root`; returns the root it used before.

    trackio resolves ``TRACKIO_DIR`` once, at import, into module globals that
    several of its modules copy (``TRACKIO_DIR``, ``MEDIA_DIR``,
    ``ARTIFACTS_DIR``); every copy still holding the old value is replaced.
    """
    import trackio  # noqa: F401  (loads every module that copies the paths)
    import trackio.utils

    new = {"TRACKIO_DIR": root, "MEDIA_DIR": root / "media", "ARTIFACTS_DIR": root / "artifacts"}
    with _trackio_lock:
        old = {attr: getattr(trackio.utils, attr) for attr in new}
        for module_name, module in list(sys.modules.items()):
            if isinstance(module, ModuleType) and (module_name == "trackio" or module_name.startswith("trackio.")):
                for attr, value in old.items():
                    if getattr(module, attr, None) == value:
                        setattr(module, attr, new[attr])
    return old["TRACKIO_DIR"]


class TrackioRun(TrackerRun):
    """A local Trackio run: ``<directory>/trackio/<project>.db``, artifacts copied under ``artifacts/``.

    Trackio has no run summary: `summary` logs the values once more at the
    next step, so its latest-value views show them. Nor has it a run status,
    so a failed run is finished like any other.
    """

    backend = "trackio"

    def __init__(self, project: str, name: str, config: Mapping[str, Any], directory: Path) -> None:
        import trackio

        super().__init__(project, name)
        self.root = directory / "trackio"
        self._previous_root = _point_trackio_at(self.root)
        self._run = trackio.init(
            project=project,
            name=name,
            config=dict(config),
            embed=False,
            auto_log_cpu=False,
            auto_log_gpu=False,
        )

    def log(self, metrics: Mapping[str, float | int | None], step: int | None = None) -> None:
        self._run.log(_scalars(metrics), step=step)

    def log_artifact(self, path: Path, name: str, type: str, metadata: Mapping[str, Any] | None = None) -> str:
        import trackio

        artifact = trackio.Artifact(artifact_name(name), type=type, metadata=dict(metadata or {}))
        if path.is_dir():
            artifact.add_dir(path)
        else:
            artifact.add_file(path)
        logged = self._run.log_artifact(artifact)
        return self._remember(path, logged.name, type, logged.qualified_name)

    def summary(self, metrics: Mapping[str, float | int | None]) -> None:
        self._run.log(_scalars(metrics))

    def finish(self, failed: bool = False) -> None:
        import trackio

        if self.finished:
            return
        if trackio.context_vars.current_run.get() is self._run:
            trackio.finish()
        else:
            self._run.finish()
        _point_trackio_at(self._previous_root)
        self.finished = True

    def _url(self) -> str:
        from trackio.sqlite_storage import SQLiteStorage

        return str(self.root / SQLiteStorage.get_project_db_filename(self.project))

    def _dir(self) -> Path:
        return self.root


def open_run(
    *,
    project: str,
    name: str,
    config: Mapping[str, Any],
    tags: Mapping[str, str],
    directory: Path,
    env: Mapping[str, str] = os.environ,
    on_log: LogCallback | None = None,
) -> TrackerRun:
    """Start a tracked run with the backend `env` selects (see the module docstring).

    `tags` are short key/value labels (dataset_version, model_id, scenario...):
    W&B gets them as ``key:value`` tags; both backends also store them in the
    config under "tags". Config entries named like credentials are dropped.
    `directory` holds the run's local files whatever the backend.
    """
    backend = choose_backend(env)
    config = {**_public_config(config, env), "tags": dict(tags)}
    if backend == "none":
        _say("tracking off (FTLOOP_TRACKING=none)", on_log)
        return TrackerRun(project, name)
    if backend == "wandb":
        wandb_run = WandbRun(project, name, config, tags, Path(directory), env)
        where = "offline run" if wandb_run.offline else "run"
        _say(f"tracking to W&B {where} {wandb_run.ref()['url']}", on_log)
        return wandb_run
    trackio_run = TrackioRun(project, name, config, Path(directory))
    _say(f"tracking to Trackio project {project!r} run {name!r} in {trackio_run.root}", on_log)
    return trackio_run


def read_trackio_metrics(project: str, run: str, directory: Path) -> Series:
    """Every numeric series of a Trackio run under `directory` (as given to `open_run`): key -> [(step, value)]."""
    from trackio.sqlite_storage import SQLiteStorage

    previous = _point_trackio_at(Path(directory) / "trackio")
    try:
        logs = SQLiteStorage.get_logs(project, run)
    finally:
        _point_trackio_at(previous)
    series: Series = {}
    for entry in logs:
        for key, value in entry.items():
            if key not in ("step", "timestamp") and isinstance(value, (int, float)) and not isinstance(value, bool):
                series.setdefault(key, []).append((int(entry["step"]), float(value)))
    return series


def read_trackio_artifacts(project: str, run: str, directory: Path) -> list[dict[str, Any]]:
    """The artifacts a Trackio run logged: name, type, version, size_bytes..."""
    from trackio.sqlite_storage import SQLiteStorage

    previous = _point_trackio_at(Path(directory) / "trackio")
    try:
        return SQLiteStorage.get_run_artifacts(project, run, None)["output"]
    finally:
        _point_trackio_at(previous)


def _records(wandb_file: Path) -> Iterator[Any]:
    """The protobuf records of a .wandb file, read with wandb's own datastore; stops at a half-written tail."""
    from wandb.proto import wandb_internal_pb2
    from wandb.sdk.internal import datastore

    store = datastore.DataStore()
    store.open_for_scan(str(wandb_file))
    try:
        while True:
            try:
                data = store.scan_data()
            except AssertionError:  # a run still being written ends mid-record
                return
            if data is None:
                return
            record = wandb_internal_pb2.Record()
            record.ParseFromString(data)
            yield record
    finally:
        store.close()


def _wait_for_exit_record(wandb_file: Path, timeout_s: float = _WANDB_WRITE_TIMEOUT_S) -> bool:
    """True once `wandb_file` ends with the run's exit record.

    `wandb.Run.finish` only tells wandb-core that the run is over; its writer
    flushes the transaction log afterwards, so a reader right after finish()
    could find nothing but the file header.
    """
    deadline = time.monotonic() + timeout_s
    checked_size = -1
    while time.monotonic() < deadline:
        size = wandb_file.stat().st_size if wandb_file.exists() else 0
        if size > _WANDB_HEADER_BYTES and size != checked_size:
            checked_size = size
            if any(record.WhichOneof("record_type") == "exit" for record in _records(wandb_file)):
                return True
        time.sleep(0.05)
    return False


def _item_key(item: Any) -> str:
    return item.key or ".".join(item.nested_key)


def _items(items: Sequence[Any]) -> Iterator[tuple[str, Any]]:
    """(key, value) of history/summary/config items, leaving out W&B's own ``_``-prefixed keys."""
    for item in items:
        key = _item_key(item)
        if not key.startswith("_"):
            yield key, json.loads(item.value_json)


def read_wandb_offline(run_dir: Path) -> dict[str, Any]:
    """What a W&B run directory (``.../wandb/offline-run-*``) holds: run, config, metrics, summary, artifacts.

    metrics: key -> [(step, value)]; artifacts: [{"name", "type", "digest", "metadata", "files"}].
    """
    wandb_files = sorted(Path(run_dir).glob("run-*.wandb"))
    if not wandb_files:
        raise FileNotFoundError(f"no run-*.wandb file in {run_dir}")
    result: dict[str, Any] = {"run": {}, "config": {}, "metrics": {}, "summary": {}, "artifacts": []}
    for record in _records(wandb_files[-1]):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            result["run"] = {"id": run.run_id, "project": run.project, "name": run.display_name, "tags": list(run.tags)}
            result["config"].update(_items(run.config.update))
        elif kind == "config":
            result["config"].update(_items(record.config.update))
        elif kind == "history":
            values = {_item_key(item): json.loads(item.value_json) for item in record.history.item}
            step = int(values.get("_step", record.history.step.num))
            for key, value in _items(record.history.item):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    result["metrics"].setdefault(key, []).append((step, float(value)))
        elif kind == "summary":
            result["summary"].update(_items(record.summary.update))
        elif kind == "artifact":
            artifact = record.artifact
            result["artifacts"].append(
                {
                    "name": artifact.name,
                    "type": artifact.type,
                    "digest": artifact.digest,
                    "metadata": json.loads(artifact.metadata or "{}"),
                    "files": [entry.path for entry in artifact.manifest.contents],
                }
            )
    return result


# Reasons already given for Weave being off, so each is said once per process.
_weave_reasons_said: set[str] = set()
_weave_projects: set[str] = set()


def weave_disabled_reason(env: Mapping[str, str] = os.environ) -> str | None:
    """Why Weave traces are off under `env`, or None when they are on."""
    forced = env.get("FTLOOP_TRACKING", "").strip().lower()
    if forced in ("none", "trackio"):
        return f"FTLOOP_TRACKING={forced}"
    if not env.get("WANDB_API_KEY"):
        return "no WANDB_API_KEY (Weave needs a W&B server)"
    mode = env.get("WANDB_MODE", "").strip().lower()
    if mode in _OFFLINE_MODES or mode == "disabled":
        return f"WANDB_MODE={mode}"
    try:
        import weave  # noqa: F401
    except ImportError:
        return "the weave package is not installed"
    return None


class TracedPredictor:
    """A predictor whose `predict` calls are Weave ops tagged with the run's attributes."""

    def __init__(self, predictor: Predictor, weave: ModuleType, attributes: Mapping[str, str]) -> None:
        self._predictor = predictor
        self._weave = weave
        self._attributes = dict(attributes)
        self.name, self.model_id, self.adapter = predictor.name, predictor.model_id, predictor.adapter

        def predict(texts: Sequence[str]) -> list[Prediction]:
            return predictor.predict(texts)

        predict.__name__ = predict.__qualname__ = f"predict_{predictor.name}"
        self._op = weave.op(predict)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        with self._weave.attributes(self._attributes):
            return self._op(texts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._predictor, name)


def trace_predictions(
    predictor: Predictor,
    *,
    project: str,
    attributes: Mapping[str, str],
    env: Mapping[str, str] = os.environ,
    on_log: LogCallback | None = None,
) -> Predictor:
    """`predictor` with Weave traces of its calls, tagged with `attributes` (see TRACE_ATTRIBUTES).

    A no-op returning `predictor` itself when Weave is off (no key, offline,
    not installed, tracking forced elsewhere); the reason is said once per
    process. Weave reads the key from the process environment.
    """
    reason = weave_disabled_reason(env)
    if reason is not None:
        if reason not in _weave_reasons_said:
            _weave_reasons_said.add(reason)
            _say(f"Weave traces off: {reason}", on_log)
        return predictor
    import weave

    if project not in _weave_projects:
        weave.init(project)
        _weave_projects.add(project)
    tagged = {"model_id": predictor.model_id, **attributes}
    return TracedPredictor(predictor, weave, {key: str(value) for key, value in tagged.items()})
