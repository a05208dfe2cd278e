"""The flagship task: a player's music request -> six hidden parameters (DESIGN §1, §6).

`schema` holds the output contract (axes, strict parsing, constraints) and
`task` the registry's `Task`; the names below are the package's public face.
"""

from pipeline.tasks.hidden_params.schema import (
    AXES,
    HIGH_AT,
    HIGH_SATISFIED_AT,
    LOW_AT,
    LOW_SATISFIED_AT,
    NAME,
    NEUTRAL,
    SYSTEM_PROMPT,
    VALUE_MAX,
    VALUE_MIN,
    chat_messages,
    constraints_for,
    format_target,
    parse,
    parse_or_neutral,
    record_from_json,
    target_dict,
    to_vector,
)
from pipeline.tasks.hidden_params.task import TASK, HiddenParamsTask

__all__ = [
    "AXES", "HIGH_AT", "HIGH_SATISFIED_AT", "LOW_AT", "LOW_SATISFIED_AT", "NAME", "NEUTRAL", "SYSTEM_PROMPT",
    "VALUE_MAX", "VALUE_MIN", "TASK", "HiddenParamsTask", "chat_messages", "constraints_for", "format_target",
    "parse", "parse_or_neutral", "record_from_json", "target_dict", "to_vector",
]
