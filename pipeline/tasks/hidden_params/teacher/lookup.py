"""The six-parameter task's teachers by name, for runs, forms and CLIs: the offline template teacher, and the
Mistral one (imported on use, so the offline default needs neither the SDK nor an API key)."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.tasks.hidden_params.teacher.base import Teacher
from pipeline.tasks.hidden_params.teacher.template import TemplateTeacher


def _mistral_teacher() -> Teacher:
    from pipeline.tasks.hidden_params.teacher.mistral import MistralTeacher

    return MistralTeacher.from_env()


_TEACHERS: dict[str, Callable[[], Teacher]] = {"template": TemplateTeacher, "mistral": _mistral_teacher}


def get_teacher(name: str) -> Teacher:
    """The teacher registered under `name`; runs and CLIs name teachers as strings.

    "mistral" is configured from the environment (see MistralTeacher.from_env)
    and raises ValueError naming MISTRAL_API_KEY when it is unset.
    """
    try:
        build = _TEACHERS[name]
    except KeyError:
        raise ValueError(f"unknown teacher {name!r}; choose from: {', '.join(_TEACHERS)}") from None
    return build()


def teacher_names() -> list[str]:
    """Registered teacher names, for forms and CLIs."""
    return list(_TEACHERS)
