from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from pipeline.train.base_models import DEFAULT_BASE_MODEL
from webapp.datasets.models import Dataset


class TrainingForm(forms.Form):
    """Local LoRA/QLoRA SFT; defaults suit SmolLM2-135M on a 2-core CPU."""

    BACKENDS = [
        ("local", _("Local worker (gpu queue)")),
        ("hf_jobs", _("Hugging Face Jobs (remote GPU, billed)")),
        ("mistral", _("Mistral managed fine-tuning (billed)")),
    ]
    REMOTE = ("hf_jobs", "mistral")

    dataset = forms.ModelChoiceField(label=_("Dataset"), queryset=Dataset.objects.none())
    backend = forms.ChoiceField(label=_("Backend"), choices=BACKENDS, initial="local")
    model_name = forms.CharField(
        label=_("Base model"), initial=DEFAULT_BASE_MODEL, max_length=200,
        help_text=_("The bundled SmolLM2-135M-Instruct, a local path, or a hub id (e.g. mistralai/Ministral-3-3B-Instruct-2512-BF16 on a GPU)."),
    )
    num_epochs = forms.FloatField(label=_("Epochs"), initial=1.0, min_value=0.01, max_value=100)
    max_steps = forms.IntegerField(label=_("Max steps (−1: by epochs)"), initial=-1, min_value=-1)
    learning_rate = forms.FloatField(label=_("Learning rate"), initial=5e-4, min_value=1e-7, max_value=1.0)
    batch_size = forms.IntegerField(label=_("Batch size"), initial=8, min_value=1, max_value=512)
    gradient_accumulation_steps = forms.IntegerField(label=_("Gradient accumulation steps"), initial=1, min_value=1, max_value=512)
    max_seq_length = forms.IntegerField(label=_("Max sequence length"), initial=256, min_value=32, max_value=8192)
    warmup_ratio = forms.FloatField(label=_("Warmup ratio"), initial=0.03, min_value=0, max_value=0.99)
    lora_r = forms.IntegerField(label=_("LoRA r"), initial=16, min_value=1, max_value=1024)
    lora_alpha = forms.IntegerField(label=_("LoRA alpha"), initial=32, min_value=1, max_value=4096)
    lora_dropout = forms.FloatField(label=_("LoRA dropout"), initial=0.05, min_value=0, max_value=0.9)
    load_in_4bit = forms.BooleanField(label=_("QLoRA (4-bit NF4 base)"), required=False)
    eval_steps = forms.IntegerField(label=_("Evaluate every N steps"), initial=50, min_value=1)
    logging_steps = forms.IntegerField(label=_("Log the loss every N steps"), initial=5, min_value=1)
    checkpoint_minutes = forms.FloatField(label=_("Checkpoint every N minutes"), initial=5.0, min_value=0.01, max_value=600)
    seed = forms.IntegerField(label=_("Seed"), initial=42, min_value=0, max_value=2**31 - 1)
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
        return data

    def params(self) -> dict:
        """The run's params: the backend and the hyperparameters (HF Jobs also keeps its flavor)."""
        data = self.cleaned_data
        skip = {"dataset", "confirm_remote"} | (set() if data["backend"] == "hf_jobs" else {"flavor"})
        return {name: value for name, value in data.items() if name not in skip}


class LoopForm(forms.Form):
    """A loop of N cycles; each cycle generates, trains and evaluates rule, prompt and fine-tuned predictors."""

    DECODE_CHOICES = [("constrained", _("Constrained JSON")), ("free", _("Free generation")),
                      ("expected", _("Expected value over number tokens"))]

    name = forms.CharField(label=_("Name"), max_length=200, initial="loop")
    cycles = forms.IntegerField(label=_("Cycles"), initial=2, min_value=1, max_value=20)
    size = forms.IntegerField(label=_("Pairs per cycle"), initial=2000, min_value=50, max_value=100_000)
    seed = forms.IntegerField(label=_("Seed"), initial=0, min_value=0, max_value=2**31 - 1)
    language = forms.ChoiceField(label=_("Language"), choices=[("en", _("English")), ("ja", _("Japanese")),
                                                              ("mixed", _("Mixed (half each)"))], initial="en")
    model_name = forms.CharField(label=_("Base model"), initial=DEFAULT_BASE_MODEL, max_length=200)
    num_epochs = forms.FloatField(label=_("Epochs"), initial=1.0, min_value=0.01, max_value=100)
    max_steps = forms.IntegerField(label=_("Max steps (−1: by epochs)"), initial=-1, min_value=-1)
    learning_rate = forms.FloatField(label=_("Learning rate"), initial=5e-4, min_value=1e-7, max_value=1.0)
    batch_size = forms.IntegerField(label=_("Batch size"), initial=8, min_value=1, max_value=512)
    lora_r = forms.IntegerField(label=_("LoRA r"), initial=16, min_value=1, max_value=1024)
    load_in_4bit = forms.BooleanField(label=_("QLoRA (4-bit NF4 base)"), required=False)
    decode = forms.ChoiceField(label=_("Decoding for model predictors"), choices=DECODE_CHOICES, initial="constrained")

    def loop_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "cycles": data["cycles"],
            "data": {"size": data["size"], "seed": data["seed"], "language": data["language"], "teacher": "template"},
            "training": {key: data[key] for key in ("model_name", "num_epochs", "max_steps", "learning_rate",
                                                     "batch_size", "lora_r", "load_in_4bit")},
            "evaluation": {"decode": data["decode"]},
        }
