"""multiple_choice's training presets, the experiment patterns A-D, read from data/presets.toml."""

from __future__ import annotations

import tomllib

from pipeline.tasks.datafiles import DataFileError, read_text, source_name
from pipeline.tasks.registry import TrainingPreset

_FILE = "data/presets.toml"


def parse_presets(text: str, source: str) -> tuple[TrainingPreset, ...]:
    """Each [[preset]] table (key, label, params) as a TrainingPreset, in file order; keys are unique."""
    try:
        tables = tomllib.loads(text).get("preset")
    except tomllib.TOMLDecodeError as error:
        raise DataFileError(source, None, f"not valid TOML: {error}") from None
    if not isinstance(tables, list) or not tables:
        raise DataFileError(source, None, "expected one or more [[preset]] tables")
    presets: list[TrainingPreset] = []
    for number, table in enumerate(tables, start=1):
        where = f"preset {number}"
        unknown = sorted(set(table) - {"key", "label", "params"})
        if unknown:
            raise DataFileError(source, None, f"{where}: unknown field(s) {', '.join(unknown)}")
        key, label, params = table.get("key"), table.get("label"), table.get("params", {})
        if not isinstance(key, str) or not key or not isinstance(label, str) or not label:
            raise DataFileError(source, None, f'{where}: "key" and "label" must be non-empty strings')
        if not isinstance(params, dict):
            raise DataFileError(source, None, f'{where} ({key}): "params" must be a table')
        if any(preset.key == key for preset in presets):
            raise DataFileError(source, None, f"{where}: key {key!r} appears twice")
        presets.append(TrainingPreset(key, label, params))
    return tuple(presets)


PRESETS = parse_presets(read_text(__package__, _FILE), source_name(__package__, _FILE))
