"""Rows the tests build through the real code paths: frozen sets of any task, evaluations stored as the evaluate
stage stores them, and a tiny two-cycle loop."""

import json
from pathlib import Path

from pipeline.data.jsonl import write_jsonl
from pipeline.eval.runner import evaluate
from pipeline.tasks.hidden_params import AXES, format_target
from pipeline.tasks.hidden_params.generate import generate_pairs
from pipeline.tasks.predictors import Prediction
from pipeline.tasks.registry import get_task
from tests.tiny_model import make_tiny_llama
from webapp.datasets.models import Dataset, FrozenEvalSet
from webapp.evals.models import EvalExample
from webapp.evals.stages import EVAL_ROWS, eval_examples
from webapp.runs import loops
from webapp.runs.models import Cycle, Loop, StageRun

LABELS = get_task("four_class").answer_fields[0].choices
POST = "I have been playing since the closed beta and our guild runs the weekly raid every Friday night."


class Canned:
    """A predictor that answers the given raw outputs in order."""

    model_id = "canned"
    adapter = None

    def __init__(self, name: str, raws: list[str], latency_ms: float) -> None:
        self.name, self.raws, self.latency_ms, self.asked = name, raws, latency_ms, 0

    def predict(self, texts):
        answers = [Prediction(raw=self.raws[self.asked + k], latency_ms=self.latency_ms + (self.asked + k) % 3)
                   for k in range(len(texts))]
        self.asked += len(texts)
        return answers


def frozen_dataset(task_name: str, rows: list[dict], name: str = "d") -> Dataset:
    task = get_task(task_name)
    examples = [task.validate_row(row, index) for index, row in enumerate(rows)]
    dataset = Dataset.objects.create(name=name, task_type=task_name)
    path = dataset.directory / "frozen_eval.jsonl"
    write_jsonl(path, examples)
    frozen = FrozenEvalSet.objects.create(content_hash=f"{dataset.pk:064d}", task_type=task_name, path=str(path),
                                          size=len(examples))
    dataset.frozen_eval_set = frozen
    dataset.save(update_fields=["frozen_eval_set"])
    return dataset


def evaluation(dataset: Dataset, predictor: str, raws: list[str], latency_ms: float = 5.0,
               cycle: Cycle | None = None) -> StageRun:
    """A finished evaluation stored as the evaluate stage stores it: EvalExample rows, eval_rows.jsonl, result."""
    task = dataset.task
    examples = [json.loads(line) for line in Path(dataset.frozen_eval_set.path).read_text().splitlines()]
    result = evaluate(task, Canned(predictor, raws, latency_ms), examples, warmup=False)
    run = StageRun.objects.create(
        kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS, dataset=dataset, cycle=cycle,
        params={"predictor": predictor},
        result={"task": task.name, "metrics": result.metrics, "charts": result.charts, "provenance": result.provenance})
    write_jsonl(run.directory / EVAL_ROWS, result.rows)
    EvalExample.objects.bulk_create(eval_examples(run, task, result.rows))
    return run


def four_class_set(items: int = 40, name: str = "fc", salt: str = "") -> Dataset:
    return frozen_dataset("four_class", [{"text": f"{POST} {salt}{index}", "label": LABELS[index % 4]}
                                         for index in range(items)], name)


def four_class_pair(dataset: Dataset) -> tuple[StageRun, StageRun]:
    """Model A answers ALLOW on even items (right on 3 of 4 items), model B gives no answer on every fifth item."""
    items = dataset.frozen_eval_set.size
    gold = [LABELS[index % 4] for index in range(items)]
    run_a = evaluation(dataset, "prompt_baseline", [g if i % 2 else "ALLOW" for i, g in enumerate(gold)], 40.0)
    run_b = evaluation(dataset, "fine_tuned", ["?" if i % 5 == 0 else g for i, g in enumerate(gold)], 8.0)
    return run_a, run_b


def target(index: int) -> int:
    return 10 + 7 * index % 80


def six_values_set(items: int = 12, name: str = "hp") -> Dataset:
    return frozen_dataset("hidden_params", [
        {"request_text": f"Something calm and cozy for the tavern, take {index}", **dict.fromkeys(AXES, target(index))}
        for index in range(items)], name)


def six_values_run(dataset: Dataset, predictor: str, offset: int, cycle: Cycle | None = None) -> StageRun:
    """Every item answered `offset` above its target, except the first, which is unreadable."""
    targets = [target(index) for index in range(dataset.frozen_eval_set.size)]
    raws = ["no idea"] + [format_target([min(100, value + offset)] * len(AXES)) for value in targets[1:]]
    return evaluation(dataset, predictor, raws, cycle=cycle)


def choice_set(items: int = 10) -> Dataset:
    rows = [{"id": f"q{n}", "input": "Question: 2 + 2?\nA. 3\nB. 4",
             "output": "Answer: B" if n % 2 else "Two and two make four.\nAnswer: B",
             "meta": {"mode": "direct" if n % 2 else "cot"}} for n in range(items)]
    return frozen_dataset("multiple_choice", rows, "mc")


def tiny_loop(tmp_path: Path, cycles: int = 2) -> Loop:
    """A loop of the six-parameter task that SFT-trains a tiny Llama for 8 steps a cycle."""
    texts = [row["request_text"] for row in generate_pairs(300, 0, "en")]
    texts.append("energy warmth brightness acousticness complexity nostalgia {}\":,0123456789")
    base = str(make_tiny_llama(tmp_path / "tiny", texts))
    return loops.start_loop(
        name="tiny loop",
        cycles=cycles,
        data={"size": 150, "seed": 1, "language": "en", "teacher": "template"},
        training={"trainer": "sft", "model_name": base, "num_epochs": 1.0, "max_steps": 8, "learning_rate": 5e-3,
                  "batch_size": 8, "lora_r": 8, "load_in_4bit": False, "eval_steps": 4, "max_seq_length": 256},
        evaluation={"decode": "constrained"},
    )


def loop_done(loop: Loop) -> bool | str:
    """True once every cycle completed and every run succeeded, "failed" as soon as one failed or was cancelled."""
    runs = StageRun.objects.filter(cycle__loop=loop)
    if runs.filter(status__in=(StageRun.Status.FAILURE, StageRun.Status.REVOKED)).exists():
        return "failed"
    return (Cycle.objects.filter(loop=loop, completed=True).count() == loop.cycles
            and not runs.exclude(status=StageRun.Status.SUCCESS).exists())
