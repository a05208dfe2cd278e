from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from pipeline.tasks.registry import TextTask, get_task, task_names
from pipeline.train.base_models import DEFAULT_BASE_MODEL, ModelNotAllowed, model_location
from webapp import bounds
from webapp.datasets.forms import TaskFormMixin, demo_language_error, task_field
from webapp.datasets.models import FLAGSHIP_TASK, Dataset
from webapp.runs.task_training import preset_choices, trainer_config, training_params
from webapp.runs.training import check_params


def loadable_model(name: str) -> None:
    """Field validator: a bundled model, a hub id or a directory under settings.FTLOOP_MODELS_DIR (the rule the
    workers' loader applies again, pipeline.train.base_models.model_location)."""
    try:
        model_location(name, settings.FTLOOP_MODELS_DIR)
    except ModelNotAllowed as exc:
        raise forms.ValidationError(str(exc)) from None


def preset_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label=_("Preset (text task types)"), required=False,
        choices=[("", _("— (six-parameter task)")), *preset_choices([get_task(name) for name in task_names()])],
        help_text=_("Its trainer, train mode and data options win over the fields below; empty: the task's first "
                    "preset. A text-task run is then evaluated (rules, prompt, fine-tuned) and judged."),
    )


def preset_key(form: forms.Form, task: TextTask | None, choice: str) -> str | None:
    """The key of the chosen "<task>:<key>" preset of `task` (its first one when none is chosen);
    a form error on "preset" when it belongs to another task type, or to none."""
    task_name, _separator, key = choice.partition(":")
    if task is None:
        if choice:
            form.add_error("preset", _("Presets belong to the text task types; this is the six-parameter task."))
        return None
    if not choice:
        return task.presets[0].key
    if task_name != task.name:
        form.add_error("preset", _("Choose a preset of %(task)s.") % {"task": task.label})
    return key


class TrainingForm(forms.Form):
    """Local LoRA/QLoRA SFT; defaults suit SmolLM2-135M on a 2-core CPU."""

    BACKENDS = [
        ("local", _("Local worker (gpu queue)")),
        ("reg_head", _("Local worker, regression head (six-parameter task; one forward pass a request)")),
        ("hf_jobs", _("Hugging Face Jobs (remote GPU, billed)")),
        ("mistral", _("Mistral managed fine-tuning (billed)")),
    ]
    REMOTE = ("hf_jobs", "mistral")

    dataset = forms.ModelChoiceField(label=_("Dataset"), queryset=Dataset.objects.none())
    backend = forms.ChoiceField(label=_("Backend"), choices=BACKENDS, initial="local")
    preset = preset_field()
    model_name = forms.CharField(
        label=_("Base model"), initial=DEFAULT_BASE_MODEL, max_length=200, validators=[loadable_model],
        help_text=_("The bundled SmolLM2-135M-Instruct, a directory under FTLOOP_MODELS_DIR, or a hub id (e.g. mistralai/Ministral-3-3B-Instruct-2512-BF16 on a GPU)."),
    )
    num_epochs = forms.FloatField(label=_("Epochs"), initial=1.0, **bounds.NUM_EPOCHS)
    max_steps = forms.IntegerField(label=_("Max steps (−1: by epochs)"), initial=-1, **bounds.MAX_STEPS)
    learning_rate = forms.FloatField(label=_("Learning rate"), initial=5e-4, **bounds.LEARNING_RATE)
    batch_size = forms.IntegerField(label=_("Batch size"), initial=8, **bounds.BATCH_SIZE)
    gradient_accumulation_steps = forms.IntegerField(label=_("Gradient accumulation steps"), initial=1,
                                                     **bounds.GRADIENT_ACCUMULATION_STEPS)
    max_seq_length = forms.IntegerField(label=_("Max sequence length"), initial=256, **bounds.MAX_SEQ_LENGTH)
    warmup_ratio = forms.FloatField(label=_("Warmup ratio"), initial=0.03, **bounds.WARMUP_RATIO)
    lora_r = forms.IntegerField(label=_("LoRA r"), initial=16, **bounds.LORA_R)
    lora_alpha = forms.IntegerField(label=_("LoRA alpha"), initial=32, **bounds.LORA_ALPHA)
    lora_dropout = forms.FloatField(label=_("LoRA dropout"), initial=0.05, **bounds.LORA_DROPOUT)
    load_in_4bit = forms.BooleanField(label=_("QLoRA (4-bit NF4 base)"), required=False)
    eval_steps = forms.IntegerField(label=_("Evaluate every N steps"), initial=50, **bounds.EVAL_STEPS)
    logging_steps = forms.IntegerField(label=_("Log the loss every N steps"), initial=5, **bounds.LOGGING_STEPS)
    checkpoint_minutes = forms.FloatField(label=_("Checkpoint every N minutes"), initial=5.0,
                                          **bounds.CHECKPOINT_MINUTES)
    seed = forms.IntegerField(label=_("Seed"), initial=42, **bounds.SEED)
    flavor = forms.CharField(label=_("HF Jobs hardware flavor"), initial=settings.FTLOOP_HF_JOB_FLAVOR, max_length=50,
                             required=False,
                             help_text=_("Only for Hugging Face Jobs, e.g. a10g-small, l4x1, a100-large."))
    confirm_remote = forms.BooleanField(
        label=_("Yes, submit a billed job to the remote service"), required=False,
        help_text=_("Remote backends never start without this box ticked."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = Dataset.objects.filter(stats__has_key="counts").order_by("-created_at")

    def clean(self) -> dict:
        data = super().clean()
        backend = data.get("backend")
        if backend in self.REMOTE and not data.get("confirm_remote"):
            self.add_error("confirm_remote", _("Tick this box to submit a billed remote job."))
        if backend == "mistral" and data.get("model_name") == DEFAULT_BASE_MODEL:
            self.add_error("model_name", _("Mistral fine-tunes its own models: enter one, e.g. ministral-3b-latest."))
        task = data["dataset"].text_task if data.get("dataset") else None
        if task and backend in self.REMOTE:
            self.add_error("backend", _("%(task)s trains on the local worker; the remote backends train the "
                                        "six-parameter task.") % {"task": task.label})
        if task and backend == "reg_head":
            self.add_error("backend", _("The regression head predicts the six parameters; %(task)s trains with its "
                                        "presets on the local worker.") % {"task": task.label})
        if "dataset" in data:
            data["preset"] = preset_key(self, task, data.get("preset", ""))
        return data

    def params(self) -> dict:
        """The run's params: the backend and the hyperparameters (HF Jobs also keeps its flavor); for a text
        task, the preset's options on top (task_training.training_params)."""
        data = self.cleaned_data
        skip = {"dataset", "confirm_remote", "preset"} | (set() if data["backend"] == "hf_jobs" else {"flavor"})
        params = {name: value for name, value in data.items() if name not in skip}
        task = data["dataset"].text_task
        if task is None:
            return params
        return training_params(task, data["preset"], {k: v for k, v in params.items() if k != "backend"})


class LoopForm(TaskFormMixin, forms.Form):
    """A loop of N cycles; each cycle generates, trains and evaluates rule, prompt and fine-tuned predictors.

    A text task type generates its offline demo rows and trains with the chosen preset.
    """

    DECODE_CHOICES = [("constrained", _("Constrained JSON")), ("free", _("Free generation")),
                      ("expected", _("Expected value over number tokens"))]

    name = forms.CharField(label=_("Name"), max_length=200, initial="loop")
    task = task_field()
    preset = preset_field()
    cycles = forms.IntegerField(label=_("Cycles"), initial=2, **bounds.CYCLES)
    size = forms.IntegerField(label=_("Pairs per cycle"), initial=2000, **bounds.LOOP_SIZE)
    seed = forms.IntegerField(label=_("Seed"), initial=0, **bounds.SEED)
    language = forms.ChoiceField(label=_("Language"), choices=[("en", _("English")), ("ja", _("Japanese")),
                                                              ("mixed", _("Mixed (half each)"))], initial="en")
    model_name = forms.CharField(label=_("Base model"), initial=DEFAULT_BASE_MODEL, max_length=200,
                                 validators=[loadable_model])
    num_epochs = forms.FloatField(label=_("Epochs"), initial=1.0, **bounds.NUM_EPOCHS)
    max_steps = forms.IntegerField(label=_("Max steps (−1: by epochs)"), initial=-1, **bounds.MAX_STEPS)
    learning_rate = forms.FloatField(label=_("Learning rate"), initial=5e-4, **bounds.LEARNING_RATE)
    batch_size = forms.IntegerField(label=_("Batch size"), initial=8, **bounds.BATCH_SIZE)
    lora_r = forms.IntegerField(label=_("LoRA r"), initial=16, **bounds.LORA_R)
    load_in_4bit = forms.BooleanField(label=_("QLoRA (4-bit NF4 base)"), required=False)
    decode = forms.ChoiceField(label=_("Decoding for model predictors"), choices=DECODE_CHOICES, initial="constrained",
                               help_text=_("Six-parameter task only; text task types generate freely."))
    backend = forms.ChoiceField(
        label=_("Fine-tuned model"), initial="reg_head", required=False,
        choices=[("local", _("SFT: the model writes the JSON")),
                 ("reg_head", _("Regression head: one forward pass a request"))],
        help_text=_("Six-parameter task only (text task types train by their preset). On a CPU the regression "
                    "head learns within an epoch or two; SFT needs a GPU or many more steps."))
    TRAINING_KEYS = ("model_name", "num_epochs", "max_steps", "learning_rate", "batch_size", "lora_r", "load_in_4bit")

    def clean(self) -> dict:
        data = super().clean()
        task_name = data.get("task", FLAGSHIP_TASK)
        task = None if task_name == FLAGSHIP_TASK else get_task(task_name)
        problem = demo_language_error(task_name, data.get("language", ""), data.get("seed") or 0)
        if problem and "language" in data:
            self.add_error("language", problem)
        data["preset"] = preset_key(self, task, data.get("preset", ""))
        if not self.errors:  # e.g. QLoRA asked of a head
            training = self.training()
            try:
                if task:
                    trainer_config(training, train_file="-", output_dir="-")
                else:
                    check_params(training)
            except ValueError as exc:
                self.add_error(None, str(exc))
        return data

    def training(self) -> dict:
        """The training row's params: the hyperparameters, and for a text task the preset's options on top."""
        data = self.cleaned_data
        hyperparameters = {key: data[key] for key in self.TRAINING_KEYS}
        if data["task"] == FLAGSHIP_TASK:
            return {**hyperparameters, "backend": data.get("backend") or self.fields["backend"].initial}
        return training_params(get_task(data["task"]), data["preset"], hyperparameters)

    def loop_kwargs(self) -> dict:
        data = self.cleaned_data
        flagship = data["task"] == FLAGSHIP_TASK
        return {
            "name": data["name"],
            "cycles": data["cycles"],
            "data": {"size": data["size"], "seed": data["seed"], "language": data["language"], "teacher": "template"}
            | ({} if flagship else {"task": data["task"]}),
            "training": self.training(),
            "evaluation": {"decode": data["decode"]} if flagship else {},
        }
