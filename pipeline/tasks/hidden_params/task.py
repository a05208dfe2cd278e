"""The six-parameter task behind the registry's protocol (pipeline.tasks.registry.Task)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from pipeline.mistral import Budget
from pipeline.tasks.datafiles import load_presets, read_text
from pipeline.tasks.hidden_params import metrics as vector_metrics
from pipeline.tasks.hidden_params import schema
from pipeline.tasks.hidden_params.bands import Band, worst_bands
from pipeline.tasks.hidden_params.clean import REASONS, quality_filter
from pipeline.tasks.hidden_params.generate import generate_pairs
from pipeline.tasks.hidden_params.rules import RuleBaseline
from pipeline.tasks.hidden_params.schema import AXES, NEUTRAL, VALUE_MAX, VALUE_MIN
from pipeline.tasks.hidden_params.split import split_rows, split_stats
from pipeline.tasks.hidden_params.teacher import get_teacher
from pipeline.tasks.registry import (
    AnswerField,
    CleanResult,
    Generated,
    LogCallback,
    ProgressCallback,
    Row,
    Task,
)
from pipeline.tasks.text import detect_language


class HiddenParamsTask(Task):
    name = schema.NAME
    label = "Music request → six hidden parameters"
    languages = ("en", "ja")
    text_key = "request_text"
    answer_key = "target"
    hashed_fields = ("request_text", "language", "target", "constraints")
    headline_metric = "vector_mae"
    higher_is_better = dict(vector_metrics.METRICS)
    verdict_metrics = ("vector_mae", "mse_norm", "intent_score_mean", "directional_accuracy")
    trainers = ("reg_head", "sft")
    default_trainer = "reg_head"
    teachers = ("template", "mistral")
    answer_fields = tuple(AnswerField(axis, "int", low=VALUE_MIN, high=VALUE_MAX) for axis in AXES)
    constrained_decoding = True
    few_shot_k = 4
    head_labels = AXES
    regression_tolerance = 0.5  # mean absolute error points
    presets = load_presets(__package__)

    # -- data --------------------------------------------------------------------------

    def generate(self, *, size: int, seed: int, language: str, teacher: str = "template",
                 oversample: Sequence[Mapping[str, Any]] = (), budget_usd: float | None = None,
                 on_progress: ProgressCallback | None = None, on_log: LogCallback | None = None) -> Generated:
        writer = get_teacher("template" if teacher == "demo" else teacher)
        ledger = getattr(writer, "ledger", None)
        if budget_usd is not None and ledger is not None:
            writer.budget = Budget(max_usd=budget_usd)
        if on_log:
            on_log(f"generating {size} pairs ({language}) with the {writer.name} teacher")
        rows = generate_pairs(size=size, seed=seed, language=language, teacher=writer,
                              oversample=[Band.parse(band) for band in oversample],
                              on_progress=on_progress, on_log=on_log)
        result = {"teacher_usd": ledger.total_usd(), "costs": ledger.to_rows()} if ledger is not None else {}
        return Generated(rows, result)

    def validate_row(self, obj: Any, index: int) -> Row:
        """An imported object: "request_text" and the six targets (at top level or under "target"), optional
        "language"; or, for a real request labelled only with the directions it implies, "request_text" and
        "constraints" ([{"axis", "direction"}], no six values): that row's "target" is None."""
        if isinstance(obj, dict) and _directions_only(obj):
            text = obj.get("request_text")
            if not isinstance(text, str) or not text.strip():
                raise ValueError('"request_text" must be a non-empty string')
            text, answer = text.strip(), self.check_answer({"constraints": obj["constraints"]})
            target, constraints = None, answer["constraints"]
        else:
            text, target = schema.record_from_json(obj)
            constraints = schema.constraints_for(target)
        language = obj.get("language") or detect_language(text)
        if language not in self.languages:
            raise ValueError(f'"language" must be one of {", ".join(self.languages)}, got {language!r}')
        return {"id": f"i{index:06d}", "request_text": text, "language": language, "target": target,
                "constraints": constraints, "teacher": "import", "usage": {}}

    def check_answer(self, value: Any) -> dict[str, Any]:
        """The six values (a mapping by axis or six ints in order), or {"constraints": [{"axis", "direction"}, ...]}:
        the directions a real request implies, each axis at most once, at least one."""
        if isinstance(value, Mapping) and _directions_only(value):
            return {"constraints": check_constraints(value["constraints"])}
        return schema.target_dict(value)

    def labelled_row(self, text: str, answer: Any, *, language: str, row_id: str, origin: str) -> Row:
        """A row of a labelled real request: with its six-value target, or (directions only) target None and the
        labelled "constraints"."""
        checked = self.check_answer(answer)
        if "constraints" in checked:
            target, constraints = None, checked["constraints"]
        else:
            target, constraints = checked, schema.constraints_for(checked)
        return {"id": row_id, "request_text": text, "language": language, "target": target,
                "constraints": constraints, "teacher": origin, "usage": {}}

    def field_dev_rows(self) -> list[Row]:
        """data/field_dev.jsonl: hand-written real requests labelled with directions only (issue 14, Build 7)."""
        rows = []
        for number, line in enumerate(read_text(__package__, FIELD_DEV_FILE).splitlines(), 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            try:
                rows.append(self.labelled_row(obj["request_text"], {"constraints": obj["constraints"]},
                                              language=obj["language"], row_id=obj["id"], origin="dev set"))
            except (KeyError, ValueError) as error:
                raise ValueError(f"{FIELD_DEV_FILE} line {number}: {error}") from None
        return rows

    def clean(self, rows: Sequence[Row], options: Mapping[str, Any],
              on_progress: ProgressCallback | None = None) -> CleanResult:
        result = quality_filter(rows, on_progress=on_progress)
        return CleanResult(result.kept, result.dropped, REASONS)

    def split(self, rows: Sequence[Row], seed: int,
              fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, list[Row]]:
        return split_rows(rows, seed, fractions)

    def split_stats(self, splits: Mapping[str, Sequence[Row]], dropped_by_reason: Mapping[str, int]) -> dict[str, Any]:
        return split_stats(splits, dropped_by_reason)

    # -- model input and output --------------------------------------------------------

    def chat_messages(self, row: Mapping[str, Any], with_answer: bool,
                      train_mode: str | None = None) -> list[dict[str, str]]:
        return schema.chat_messages(row["request_text"], row["target"] if with_answer else None)

    def parse(self, raw: str) -> dict[str, int] | None:
        values = schema.parse(raw)
        return dict(zip(AXES, values)) if values is not None else None

    def format_answer(self, answer: Any) -> str:
        return schema.format_target(answer)

    # -- evaluation --------------------------------------------------------------------

    def rule_baseline(self) -> RuleBaseline:
        return RuleBaseline()

    def score_row(self, example: Mapping[str, Any], raw: str) -> dict[str, Any]:
        """One example's outcome. With a six-value target: the per-axis errors, "error" their mean (0-100).

        Without one (target None: a real request labelled only with directions): "constraints_met" (how many of
        the row's constraints the prediction meets, by constraint_match_rate's rule) and "error" = 100 x the
        share of its constraints unmet (0 when it has none), so that error stays on a 0-100 lower-is-better scale
        for the paired statistics.
        """
        parsed = schema.parse(raw)
        predicted = parsed if parsed is not None else NEUTRAL
        if example.get("target") is None:
            constraints = list(example.get("constraints") or [])
            index = {axis: position for position, axis in enumerate(AXES)}
            met = sum(vector_metrics.constraint_satisfied(item["direction"], predicted[index[item["axis"]]])
                      for item in constraints)
            return {
                "target": None,
                "constraints": constraints,
                "parsed": dict(zip(AXES, parsed)) if parsed is not None else None,
                "valid": parsed is not None,
                "constraints_met": met,
                "error": 100 * (len(constraints) - met) / len(constraints) if constraints else 0.0,
            }
        target = schema.to_vector(example["target"])
        abs_errors = dict(zip(AXES, vector_metrics.absolute_errors(target, predicted)))
        return {
            "target": dict(zip(AXES, target)),
            "constraints": list(example["constraints"] if "constraints" in example else schema.constraints_for(target)),
            "parsed": dict(zip(AXES, parsed)) if parsed is not None else None,
            "valid": parsed is not None,
            "abs_errors": abs_errors,
            "mean_abs_error": sum(abs_errors.values()) / len(AXES),
            "error": sum(abs_errors.values()) / len(AXES),
            "intent_score": vector_metrics.intent_score(target, predicted),
        }

    def metrics(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
        return vector_metrics.row_metrics(rows)

    def error_bands(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        pairs = [(schema.to_vector(row["target"]), schema.to_vector(row["parsed"]) if row["parsed"] else NEUTRAL)
                 for row in rows if row.get("target") is not None]  # directions-only rows have no band
        return [asdict(band) for band in worst_bands(pairs)]

    def charts(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Predicted against target per axis (a scatter per axis); an unreadable output counts as the neutral vector,
        as it does in the metrics. Rows without a six-value target (directions only) have no point."""
        rows = [row for row in rows if row.get("target") is not None]
        predicted = [schema.to_vector(row["parsed"]) if row["parsed"] else NEUTRAL for row in rows]
        targets = [schema.to_vector(row["target"]) for row in rows]
        return {"scatter": {axis: {"target": [target[i] for target in targets],
                                   "predicted": [values[i] for values in predicted]}
                            for i, axis in enumerate(AXES)}}


FIELD_DEV_FILE = "data/field_dev.jsonl"


def _directions_only(obj: Mapping[str, Any]) -> bool:
    """A label of directions only: "constraints" and none of the six values (top level or under "target")."""
    return "constraints" in obj and obj.get("target") is None and not any(axis in obj for axis in AXES)


def check_constraints(value: Any) -> list[dict[str, str]]:
    """[{"axis", "direction"}, ...] validated: a known axis each, "high" or "low", no axis twice, at least one."""
    if not isinstance(value, list) or not value:
        raise ValueError('"constraints" must be a non-empty list of {"axis", "direction"} objects')
    seen: set[str] = set()
    checked = []
    for number, item in enumerate(value, 1):
        if not isinstance(item, Mapping) or set(item) != {"axis", "direction"}:
            raise ValueError(f'constraint {number} must be an object with exactly "axis" and "direction"')
        axis, direction = item["axis"], item["direction"]
        if axis not in AXES:
            raise ValueError(f"constraint {number}: axis must be one of {', '.join(AXES)}, got {axis!r}")
        if direction not in ("high", "low"):
            raise ValueError(f"constraint {number}: direction must be 'high' or 'low', got {direction!r}")
        if axis in seen:
            raise ValueError(f"constraint {number}: {axis} is constrained twice")
        seen.add(axis)
        checked.append({"axis": axis, "direction": direction})
    return checked


TASK = HiddenParamsTask()
