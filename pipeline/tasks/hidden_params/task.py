"""The six-parameter task behind the registry's protocol (pipeline.tasks.registry.Task)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.tasks.datafiles import load_presets
from pipeline.tasks.hidden_params import schema
from pipeline.tasks.hidden_params.rules import RuleBaseline
from pipeline.tasks.hidden_params.schema import AXES, NEUTRAL, VALUE_MAX, VALUE_MIN
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

_LOWER_IS_BETTER = ("vector_mae", "mse_raw", "mse_norm", *(f"mae_{axis}" for axis in AXES))
_HIGHER_IS_BETTER = ("json_valid_rate", "constraint_match_rate", "slot_exact_match", "intent_score_mean",
                     *(f"bucket_acc_{axis}" for axis in AXES))


class HiddenParamsTask(Task):
    name = schema.NAME
    label = "Music request → six hidden parameters"
    languages = ("en", "ja")
    text_key = "request_text"
    answer_key = "target"
    hashed_fields = ("request_text", "language", "target", "constraints")
    headline_metric = "vector_mae"
    higher_is_better = {key: False for key in _LOWER_IS_BETTER} | {key: True for key in _HIGHER_IS_BETTER}
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
        from pipeline.data.generate_teacher_pairs import Band, generate_pairs
        from pipeline.data.teachers import get_teacher
        from pipeline.mistral import Budget

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
        from pipeline.data.quality_filter import REASONS, quality_filter

        result = quality_filter(rows, on_progress=on_progress)
        return CleanResult(result.kept, result.dropped, REASONS)

    def split(self, rows: Sequence[Row], seed: int,
              fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, list[Row]]:
        from pipeline.data.build_train_valid_test import split_rows

        return split_rows(rows, seed, fractions)

    def split_stats(self, splits: Mapping[str, Sequence[Row]], dropped_by_reason: Mapping[str, int]) -> dict[str, Any]:
        from pipeline.data.build_train_valid_test import split_stats

        return split_stats(splits, dropped_by_reason)

    def split_files(self, name: str, rows: Sequence[Row]) -> dict[str, list[Row]]:
        from pipeline.data.export import chat_record, prompt_completion_record

        return {f"chat_{name}.jsonl": [chat_record(row) for row in rows],
                f"prompt_completion_{name}.jsonl": [prompt_completion_record(row) for row in rows]}

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
        from pipeline.eval.metrics import absolute_errors, intent_score

        target = schema.to_vector(example["target"])
        parsed = schema.parse(raw)
        predicted = parsed if parsed is not None else NEUTRAL
        abs_errors = dict(zip(AXES, absolute_errors(target, predicted)))
        return {
            "target": dict(zip(AXES, target)),
            "constraints": list(example["constraints"] if "constraints" in example else schema.constraints_for(target)),
            "parsed": dict(zip(AXES, parsed)) if parsed is not None else None,
            "valid": parsed is not None,
            "abs_errors": abs_errors,
            "mean_abs_error": sum(abs_errors.values()) / len(AXES),
            "error": sum(abs_errors.values()) / len(AXES),
            "intent_score": intent_score(target, predicted),
        }

    def metrics(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
        from pipeline.eval import metrics as m

        if not rows:
            raise ValueError("no examples to score")
        targets = [schema.to_vector(row["target"]) for row in rows]
        predicted = [schema.to_vector(row["parsed"]) if row["parsed"] else NEUTRAL for row in rows]
        values: dict[str, float | None] = {
            "json_valid_rate": sum(1 for row in rows if row["valid"]) / len(rows),
            "vector_mae": m.vector_mae(targets, predicted),
            "mse_raw": m.mse_raw(targets, predicted),
            "mse_norm": m.mse_norm(targets, predicted),
            "constraint_match_rate": m.constraint_match_rate([row["constraints"] for row in rows], predicted),
            "slot_exact_match": m.slot_exact_match(targets, predicted),
            "intent_score_mean": m.intent_score_mean(targets, predicted),
        }
        values.update({f"mae_{axis}": value for axis, value in m.axis_mae(targets, predicted).items()})
        values.update({f"bucket_acc_{axis}": value for axis, value in m.bucket_accuracy(targets, predicted).items()})
        return values

    def error_bands(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        from dataclasses import asdict

        from pipeline.eval.error_bands import worst_bands

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
