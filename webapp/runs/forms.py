"""The training and loop forms, for every task type: the preset of the dataset's task names the trainer, the
backend says where it runs, and a hyperparameter left empty keeps the trainer's own default (its config
dataclass, webapp.runs.training.trainer_defaults)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from pipeline.tasks.registry import DEFAULT_TASK, Task, all_tasks, get_task
from pipeline.train.base_models import DEFAULT_BASE_MODEL, ModelNotAllowed, model_location
from webapp import bounds
from webapp.datasets.forms import TaskFormMixin, generation_errors, language_choices, task_field, teacher_choices
from webapp.datasets.models import Dataset, FrozenEvalSet
from webapp.runs.training import TRAINERS, check_params, trainer_defaults, training_params

REMOTE_BACKENDS = ("hf_jobs", "mistral")
# Hyperparameter fields of the forms; empty means the chosen trainer's default.
HYPERPARAMETERS = ("num_epochs", "max_steps", "learning_rate", "batch_size", "gradient_accumulation_steps",
                   "max_seq_length", "warmup_ratio", "lora_r", "lora_alpha", "lora_dropout", "eval_steps",
                   "logging_steps", "checkpoint_minutes", "seed")


def loadable_model(name: str) -> None:
    """Field validator: a bundled model, a hub id or a directory under settings.FTLOOP_MODELS_DIR (the rule the
    workers' loader applies again, pipeline.train.base_models.model_location)."""
    try:
        model_location(name, settings.FTLOOP_MODELS_DIR)
    except ModelNotAllowed as exc:
        raise forms.ValidationError(str(exc)) from None


def preset_choices() -> list[tuple[str, str | list[tuple[str, str]]]]:
    """Form choices grouped by task: value "<task>:<preset key>", label the preset's; first, the empty choice."""
    return [("", _("— the task's default trainer")),
            *((task.label, [(f"{task.name}:{preset.key}", preset.label) for preset in task.presets])
              for task in all_tasks())]


def preset_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label=_("Preset"), required=False, choices=preset_choices,
        help_text=_("Its trainer, train mode and data options win over the fields below."),
    )


def defaults_help(field: str) -> str:
    """"sft 0.0002 · reg_head 0.001 · …": each trainer's default for a hyperparameter field."""
    values = [f"{name} {trainer_defaults(name)[field]}" for name in TRAINERS if field in trainer_defaults(name)]
    return _("Empty: the trainer's default (%(defaults)s).") % {"defaults": " · ".join(values)}


def hyperparameter_fields() -> dict[str, forms.Field]:
    """The optional hyperparameter fields, with bounds and each trainer's default in the help text."""
    fields = {
        "num_epochs": forms.FloatField(label=_("Epochs"), **bounds.NUM_EPOCHS),
        "max_steps": forms.IntegerField(label=_("Max steps (−1: by epochs)"), **bounds.MAX_STEPS),
        "learning_rate": forms.FloatField(label=_("Learning rate"), **bounds.LEARNING_RATE),
        "batch_size": forms.IntegerField(label=_("Batch size"), **bounds.BATCH_SIZE),
        "gradient_accumulation_steps": forms.IntegerField(label=_("Gradient accumulation steps"),
                                                          **bounds.GRADIENT_ACCUMULATION_STEPS),
        "max_seq_length": forms.IntegerField(label=_("Max sequence length"), **bounds.MAX_SEQ_LENGTH),
        "warmup_ratio": forms.FloatField(label=_("Warmup ratio"), **bounds.WARMUP_RATIO),
        "lora_r": forms.IntegerField(label=_("LoRA r"), **bounds.LORA_R),
        "lora_alpha": forms.IntegerField(label=_("LoRA alpha"), **bounds.LORA_ALPHA),
        "lora_dropout": forms.FloatField(label=_("LoRA dropout"), **bounds.LORA_DROPOUT),
        "eval_steps": forms.IntegerField(label=_("Evaluate every N steps"), **bounds.EVAL_STEPS),
        "logging_steps": forms.IntegerField(label=_("Log the loss every N steps"), **bounds.LOGGING_STEPS),
        "checkpoint_minutes": forms.FloatField(label=_("Checkpoint every N minutes"), **bounds.CHECKPOINT_MINUTES),
        "seed": forms.IntegerField(label=_("Seed"), **bounds.SEED),
    }
    for name, field in fields.items():
        field.required = False
        field.help_text = defaults_help(name)
    return fields


def preset_key(form: forms.Form, task: Task, choice: str) -> str | None:
    """The key of the chosen "<task>:<key>" preset, None when none is chosen; a form error on "preset" when it
    belongs to another task type."""
    if not choice:
        return None
    task_name, _separator, key = choice.partition(":")
    if task_name != task.name:
        form.add_error("preset", _("Choose a preset of %(task)s.") % {"task": task.label})
    return key


def chosen_hyperparameters(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The hyperparameters the form set (an empty field keeps the trainer's default), QLoRA when ticked."""
    chosen = {key: data[key] for key in keys if data.get(key) is not None}
    if data.get("model_name"):
        chosen["model_name"] = data["model_name"]
    if data.get("load_in_4bit"):
        chosen["load_in_4bit"] = True
    return chosen


class TrainingForm(forms.Form):
    """Train a model on a dataset: the preset names the trainer, the backend where it runs."""

    BACKENDS = [
        ("local", _("Local worker (gpu queue)")),
        ("hf_jobs", _("Hugging Face Jobs (remote GPU, billed)")),
        ("mistral", _("Mistral managed fine-tuning (billed)")),
    ]

    dataset = forms.ModelChoiceField(label=_("Dataset"), queryset=Dataset.objects.none())
    preset = preset_field()
    backend = forms.ChoiceField(label=_("Backend"), choices=BACKENDS, initial="local")
    model_name = forms.CharField(
        label=_("Base model"), max_length=200, required=False, validators=[loadable_model],
        help_text=_("Empty: the bundled SmolLM2-135M-Instruct. A directory under FTLOOP_MODELS_DIR, or a hub id "
                    "(e.g. mistralai/Ministral-3-3B-Instruct-2512-BF16 on a GPU)."),
    )
    load_in_4bit = forms.BooleanField(label=_("QLoRA (4-bit NF4 base)"), required=False)
    flavor = forms.CharField(label=_("HF Jobs hardware flavor"), initial=settings.FTLOOP_HF_JOB_FLAVOR, max_length=50,
                             required=False, help_text=_("Only for Hugging Face Jobs, e.g. a10g-small, l4x1, a100-large."))
    confirm_remote = forms.BooleanField(
        label=_("Yes, submit a billed job to the remote service"), required=False,
        help_text=_("Remote backends never start without this box ticked."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(hyperparameter_fields())
        self.fields["dataset"].queryset = Dataset.objects.filter(stats__has_key="counts").order_by("-created_at")
        self.fields["model_name"].widget.attrs["placeholder"] = DEFAULT_BASE_MODEL

    def clean(self) -> dict:
        data = super().clean()
        backend = data.get("backend")
        if backend in REMOTE_BACKENDS and not data.get("confirm_remote"):
            self.add_error("confirm_remote", _("Tick this box to submit a billed remote job."))
        if backend == "mistral" and data.get("model_name", DEFAULT_BASE_MODEL) in ("", DEFAULT_BASE_MODEL):
            self.add_error("model_name", _("Mistral fine-tunes its own models: enter one, e.g. ministral-3b-latest."))
        if "dataset" in data:
            task = data["dataset"].task
            data["preset"] = preset_key(self, task, data.get("preset", ""))
            if not self.errors:
                try:
                    check_params(task, self.params())
                except ValueError as exc:
                    self.add_error(None, str(exc))
        return data

    def params(self) -> dict[str, Any]:
        """The run's params: hyperparameters set on the form, the preset's options on top, the trainer and the
        backend (HF Jobs also keeps its flavor)."""
        data = self.cleaned_data
        params = training_params(data["dataset"].task, data["preset"], chosen_hyperparameters(data, HYPERPARAMETERS),
                                 backend=data["backend"])
        if data["backend"] == "hf_jobs" and data.get("flavor"):
            params["flavor"] = data["flavor"]
        return params


class LoopForm(TaskFormMixin, forms.Form):
    """A loop of N cycles of any task type: each cycle generates, trains with the preset's trainer and evaluates
    the rule, prompt and fine-tuned predictors."""

    DECODE_CHOICES = [("constrained", _("Constrained")), ("free", _("Free generation")),
                      ("expected", _("Expected value over number tokens"))]
    TRAINING_KEYS = ("num_epochs", "max_steps", "learning_rate", "batch_size", "lora_r")

    name = forms.CharField(label=_("Name"), max_length=200, initial="loop")
    task = task_field()
    preset = preset_field()
    cycles = forms.IntegerField(label=_("Cycles"), initial=2, **bounds.CYCLES)
    size = forms.IntegerField(label=_("Rows per cycle"), initial=2000, **bounds.LOOP_SIZE)
    seed = forms.IntegerField(label=_("Seed"), initial=0, **bounds.SEED)
    language = forms.ChoiceField(label=_("Language"), choices=language_choices, initial="en")
    teacher = forms.ChoiceField(label=_("Teacher"), choices=teacher_choices, initial="", required=False)
    model_name = forms.CharField(label=_("Base model"), max_length=200, required=False, validators=[loadable_model])
    load_in_4bit = forms.BooleanField(label=_("QLoRA (4-bit NF4 base)"), required=False)
    yardsticks = forms.ModelMultipleChoiceField(
        label=_("Synthetic yardsticks"), required=False, queryset=FrozenEvalSet.objects.none(),
        help_text=_("Frozen sets of the task to evaluate every cycle on; empty: cycle 1 freezes its test split. "
                    "The task's field set of real requests is always a yardstick too."))
    decode = forms.ChoiceField(label=_("Decoding for model predictors"), choices=DECODE_CHOICES, initial="constrained",
                               help_text=_("Where the task's answer has a fixed skeleton; others generate freely."))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for key, field in hyperparameter_fields().items():
            if key in self.TRAINING_KEYS:
                self.fields[key] = field
        self.fields["model_name"].widget.attrs["placeholder"] = DEFAULT_BASE_MODEL
        self.fields["yardsticks"].queryset = FrozenEvalSet.objects.order_by("-created_at")

    def clean(self) -> dict:
        data = super().clean()
        task = get_task(data.get("task") or DEFAULT_TASK)
        others = [str(frozen) for frozen in data.get("yardsticks") or () if frozen.task_type != task.name]
        if others:
            self.add_error("yardsticks", _("These sets belong to another task type: %(sets)s.") % {
                "sets": ", ".join(others)})
        if "language" in data and "teacher" in data:
            for field, problem in generation_errors(task.name, data["teacher"], data["language"]):
                self.add_error(field, problem)
        data["preset"] = preset_key(self, task, data.get("preset", ""))
        if not self.errors:  # e.g. QLoRA asked of a head
            try:
                check_params(task, self.training())
            except ValueError as exc:
                self.add_error(None, str(exc))
        return data

    def training(self) -> dict[str, Any]:
        """The training row's params: the hyperparameters set, the preset's options on top, its trainer."""
        data = self.cleaned_data
        return training_params(get_task(data["task"]), data["preset"], chosen_hyperparameters(data, self.TRAINING_KEYS))

    def loop_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        task = get_task(data["task"])
        return {
            "name": data["name"],
            "cycles": data["cycles"],
            "data": {"task": data["task"], "size": data["size"], "seed": data["seed"], "language": data["language"],
                     "teacher": data["teacher"] or task.teachers[0]},
            "training": self.training(),
            "evaluation": {"decode": data["decode"]} if task.constrained_decoding else {},
            "yardsticks": [frozen.pk for frozen in data.get("yardsticks") or ()],
        }
