"""four_class's scores, all from confusion counts.

Confusion counts are numpy arrays of shape (..., 4, 5): rows are gold labels,
columns predicted labels plus a last column for unreadable outputs. Every
score is computed from them by ``confusion_scores``, which works on a stack of
matrices as well, so an A/B bootstrap scores each resample with exactly these
definitions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pipeline.tasks.four_class.labels import ALLOW, INVALID, LABELS
from pipeline.tasks.four_class.parsing import parse


def label_indices(answers: Sequence[str], predicted: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Gold and predicted label indices; a prediction that is no label becomes ``INVALID``."""
    if len(answers) != len(predicted):
        raise ValueError(f"{len(answers)} answers but {len(predicted)} predictions")
    unknown = sorted({str(answer) for answer in answers if answer not in LABELS})
    if unknown:
        raise ValueError(f"gold answers must be one of {', '.join(LABELS)}; found {', '.join(unknown)}")
    gold = np.array([LABELS.index(answer) for answer in answers], dtype=np.int64)
    pred = np.array([LABELS.index(p) if p in LABELS else INVALID for p in predicted], dtype=np.int64)
    return gold, pred


def confusion_counts(answers: Sequence[str], predicted: Sequence[str | None]) -> np.ndarray:
    """A (4, 5) count matrix: gold rows, predicted columns, the last column unreadable outputs."""
    gold, pred = label_indices(answers, predicted)
    width = len(LABELS) + 1
    return np.bincount(gold * width + pred, minlength=len(LABELS) * width).reshape(len(LABELS), width)


def confusion_scores(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Scores of one or a stack of (4, 5) confusion matrices; NaN where a score is undefined.

    - accuracy: correct / all items; an unreadable output is wrong.
    - per class: precision TP/(TP+FP), undefined when nothing was predicted as the class;
      recall TP/(TP+FN), undefined without gold items of the class; F1 2TP/(2TP+FP+FN),
      undefined only when the class appears neither in gold nor in predictions.
      An unreadable output is a false negative of its gold class.
    - macro_f1: mean F1 over the classes where it is defined.
    - false_allow_rate: items with a gold label other than ALLOW predicted ALLOW, over those items.
    - invalid_rate: unreadable outputs / all items.
    """
    counts = np.asarray(confusion, dtype=np.float64)
    classes = len(LABELS)
    true_positive = np.diagonal(counts[..., :classes], axis1=-2, axis2=-1)
    gold_total = counts.sum(axis=-1)
    predicted_total = counts[..., :classes].sum(axis=-2)
    total = gold_total.sum(axis=-1)
    allow = LABELS.index(ALLOW)
    harmful = [index for index in range(classes) if index != allow]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = 2 * true_positive / (gold_total + predicted_total)
        defined = ~np.isnan(f1)
        scores = {
            "accuracy": true_positive.sum(axis=-1) / total,
            "macro_f1": np.where(defined.any(axis=-1), np.nansum(f1, axis=-1) / defined.sum(axis=-1), np.nan),
            "false_allow_rate": counts[..., harmful, allow].sum(axis=-1) / gold_total[..., harmful].sum(axis=-1),
            "invalid_rate": counts[..., INVALID].sum(axis=-1) / total,
        }
        for index, label in enumerate(LABELS):
            scores[f"precision/{label}"] = true_positive[..., index] / predicted_total[..., index]
            scores[f"recall/{label}"] = true_positive[..., index] / gold_total[..., index]
            scores[f"f1/{label}"] = f1[..., index]
    return scores


def _plain(value: Any) -> float | None:
    number = float(value)
    return None if np.isnan(number) else number


METRIC_KEYS: tuple[str, ...] = (
    "accuracy",
    "macro_f1",
    "false_allow_rate",
    "invalid_rate",
    *(f"{kind}/{label}" for label in LABELS for kind in ("precision", "recall", "f1")),
)
# The runner adds p95_inference_latency_ms to every task's metrics; its direction is declared here with the rest.
HIGHER_IS_BETTER: dict[str, bool] = {
    key: key not in ("false_allow_rate", "invalid_rate", "p95_inference_latency_ms")
    for key in (*METRIC_KEYS, "p95_inference_latency_ms")
}


def predicted_label(row: Mapping[str, Any]) -> str | None:
    """An eval row's predicted label: its "parsed" value, or its "raw" output parsed when it has none."""
    return row["parsed"] if "parsed" in row else parse(row.get("raw", ""))


def row_confusion(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``confusion_counts`` of eval rows ({"answer", "parsed" or "raw"})."""
    return confusion_counts([row["answer"] for row in rows], [predicted_label(row) for row in rows])


def classification_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """All ``METRIC_KEYS`` of eval rows ({"answer", "parsed"}); None where undefined (latency is the runner's)."""
    if not rows:
        raise ValueError("no eval rows to score")
    confusion = row_confusion(rows)
    metrics = {key: _plain(value) for key, value in confusion_scores(confusion).items()}
    return {key: metrics[key] for key in METRIC_KEYS}


def confusion_chart(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """{"labels", "matrix" (gold rows x predicted columns), "invalid" (unreadable outputs per gold label)}."""
    confusion = row_confusion(rows)
    return {"labels": list(LABELS), "matrix": confusion[:, :INVALID].tolist(),
            "invalid": confusion[:, INVALID].tolist()}
