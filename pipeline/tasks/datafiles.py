"""Package data files of the task packages (lexicons, phrase banks, demo corpora), read with importlib.resources.

Vocabulary is data a reviewer reads as phrases, not Python literals (STYLE §14);
presets are TOML (``load_presets``).
Every such file shares one plain UTF-8 format:

    # a comment: a whole line, never after an entry
    [section name]
    one entry a line
    an entry | with | fields            (split only by a parser that wants fields)
    "an entry with edge spaces, "       (a JSON string, kept exactly; "" is the empty entry)

Blank lines are ignored, entries keep their order and their repeats (a
repeated entry is drawn more often). Each task module turns the sections into
its own structures with a small parser; anything it cannot read is a
`DataFileError` naming the file and the line.
"""

from __future__ import annotations

import json
import string
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

from pipeline.tasks.registry import TrainingPreset


class DataFileError(ValueError):
    """A package data file that cannot be read; the message names the file and the line."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        super().__init__(f"{source}, line {line}: {message}" if line is not None else f"{source}: {message}")
        self.source = source
        self.line = line


@dataclass(frozen=True)
class Entry:
    """One entry line: where it stands, and the line as written (stripped)."""

    source: str
    line: int
    raw: str

    @property
    def text(self) -> str:
        """The entry as one value (a JSON string decoded)."""
        return self._value(self.raw)

    def fields(self, count: int | None = None) -> list[str]:
        """The entry split on "|" (each part stripped, JSON strings decoded); ``count`` parts when given."""
        parts = [self._value(part.strip()) for part in self.raw.split("|")]
        if count is not None and len(parts) != count:
            raise self.error(f"expected {count} fields separated by '|', got {len(parts)}: {self.raw!r}")
        return parts

    def error(self, message: str) -> DataFileError:
        return DataFileError(self.source, self.line, message)

    def _value(self, token: str) -> str:
        if len(token) >= 2 and token.startswith('"') and token.endswith('"'):
            try:
                value = json.loads(token)
            except json.JSONDecodeError as error:
                raise self.error(f"bad quoted entry {token!r}: {error.msg}") from None
            if not isinstance(value, str):
                raise self.error(f"a quoted entry must be a string, got {token!r}")
            return value
        return token


class Sections(dict[str, list[Entry]]):
    """Section name -> its entries, in file order; ``header_lines`` says where each header stands."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.header_lines: dict[str, int] = {}


def source_name(package: str, name: str) -> str:
    """How errors name a package data file: its path in the source tree."""
    return f"{package.replace('.', '/')}/{name}"


def read_text(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def parse_sections(text: str, source: str) -> Sections:
    """Section name -> its entries, in file order; a header names a section once."""
    sections = Sections(source)
    current: list[Entry] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            name = " ".join(line[1:-1].split()) if line.endswith("]") else ""
            if not name:
                raise DataFileError(source, number, f"bad section header {line!r}; expected [name]")
            if name in sections:
                raise DataFileError(source, number, f"section [{name}] appears twice")
            current = sections[name] = []
            sections.header_lines[name] = number
            continue
        if current is None:
            raise DataFileError(source, number, f"entry {line!r} before any [section] header")
        current.append(Entry(source, number, line))
    return sections


def load_sections(package: str, name: str) -> Sections:
    """The sections of the package's data file ``name`` (e.g. "data/keywords.txt")."""
    return parse_sections(read_text(package, name), source_name(package, name))


def expect_sections(sections: Sections, names: Collection[str]) -> None:
    """Every section in ``names`` present, none empty, and no other (a misspelt header is an error, not a gap)."""
    for name, entries in sections.items():
        if name not in names:
            raise DataFileError(sections.source, sections.header_lines[name],
                                f"unknown section [{name}]; expected one of {', '.join(names)}")
        if not entries:
            raise DataFileError(sections.source, sections.header_lines[name], f"section [{name}] has no entries")
    missing = [name for name in names if name not in sections]
    if missing:
        raise DataFileError(sections.source, None, "missing section(s) " + ", ".join(f"[{name}]" for name in missing))


def texts(sections: Mapping[str, Sequence[Entry]], name: str) -> tuple[str, ...]:
    """The entries of one section as plain strings."""
    return tuple(entry.text for entry in sections[name])


def pairs(sections: Mapping[str, Sequence[Entry]], name: str) -> tuple[tuple[str, str], ...]:
    """The entries of one section as "a | b" pairs."""
    return tuple((first, second) for first, second in (entry.fields(2) for entry in sections[name]))


def check_placeholders(sections: Mapping[str, Sequence[Entry]], name: str, allowed: Collection[str]) -> None:
    """Every entry of a section of str.format templates uses only the ``allowed`` {placeholders}."""
    for entry in sections[name]:
        try:
            used = {field for _, field, _, _ in string.Formatter().parse(entry.text) if field is not None}
        except ValueError as error:
            raise entry.error(f"bad template {entry.text!r}: {error}") from None
        unknown = sorted(used - set(allowed))
        if unknown:
            expected = ", ".join("{" + field + "}" for field in sorted(allowed)) or "none"
            raise entry.error(f"unknown placeholder(s) {', '.join('{' + f + '}' for f in unknown)} in [{name}]; "
                              f"expected {expected}")


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


def load_presets(package: str, name: str = "data/presets.toml") -> tuple[TrainingPreset, ...]:
    """A task package's training presets, from its presets file."""
    return parse_presets(read_text(package, name), source_name(package, name))
