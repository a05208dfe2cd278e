"""The six-parameter task behind the registry's protocol (pipeline.tasks.registry.Task)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from pipeline.mistral import Budget
from pipeline.tasks.datafiles import load_presets
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
    verdict_metrics = ("vector_mae", "mse_norm", "intent_score_mean")
    trainers = ("reg_head", "sft")
    default_trainer = "reg_head"
    teachers = ("template", "mistral")
    answer_fields = tuple(AnswerField(axis, "int", low=VALUE_MIN, high=VALUE_MAX) for axis in AXES)
    constrained_decoding = True
    few_shot_k = 4
    head_labels = AXES
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
        text, target = schema.record_from_json(obj)
        language = obj.get("language") or detect_language(text)
        if language not in self.languages:
            raise ValueError(f'"language" must be one of {", ".join(self.languages)}, got {language!r}')
        return {"id": f"i{index:06d}", "request_text": text, "language": language, "target": target,
                "constraints": schema.constraints_for(target), "teacher": "import", "usage": {}}

    def check_answer(self, value: Any) -> dict[str, int]:
        return schema.target_dict(value)

    def labelled_row(self, text: str, answer: Any, *, language: str, row_id: str, origin: str) -> Row:
        target = self.check_answer(answer)
        return {"id": row_id, "request_text": text, "language": language, "target": target,
                "constraints": schema.constraints_for(target), "teacher": origin, "usage": {}}

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
        target = schema.to_vector(example["target"])
        parsed = schema.parse(raw)
        predicted = parsed if parsed is not None else NEUTRAL
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
                 for row in rows]
        return [asdict(band) for band in worst_bands(pairs)]

    def charts(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Predicted against target per axis (a scatter per axis); an unreadable output counts as the neutral vector,
        as it does in the metrics."""
        predicted = [schema.to_vector(row["parsed"]) if row["parsed"] else NEUTRAL for row in rows]
        targets = [schema.to_vector(row["target"]) for row in rows]
        return {"scatter": {axis: {"target": [target[i] for target in targets],
                                   "predicted": [values[i] for values in predicted]}
                            for i, axis in enumerate(AXES)}}


TASK = HiddenParamsTask()
