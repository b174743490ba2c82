"""Documents from a user's files, streamed: JSON lines (optionally gzipped), parquet, or one
document per text file.

    for doc_id, text in read_documents(files, "jsonl", Fields("text"), bad):   # one at a time
        ...

`Fields` says what a record's document is: one field (`text`), or a template over several
(`"{message}\n{new_contents}"`), kept only where its filters hold
(`meta.redpajama_set_name` not in a list, say).

Nothing holds a whole file: JSON lines (plain, .gz or .zst) are read line by line, parquet a
record batch at a time (pyarrow), text files one file at a time. A record that cannot be read (bad JSON,
undecodable bytes, the field missing or not a string) is counted in `bad` with its file and
line (row) and skipped; the caller decides whether too many were bad (`Malformed.check`).
A document's id is its file's name and line, so held-out documents are chosen by a hash of
where they are, as for the embedded sources.
"""

from __future__ import annotations

import gzip
import io
import json
import string
from dataclasses import dataclass, field
from typing import Any, Iterator

from trainers.data.files import name, open_random, open_stream

FORMATS = ("jsonl", "parquet", "text")
SHOWN = 5  # malformed records named in the report


def format_of(path: str) -> str:
    """A file's format by its suffix: .jsonl/.json(.gz, .zst), .parquet, anything else text."""
    name = path.lower().removesuffix(".gz").removesuffix(".zst")
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    return "text"


@dataclass(frozen=True)
class Fields:
    """What a record's document is: the string in `field`, or `template` formatted with the
    record's fields; records where a `where` filter fails are left out (not malformed).
    `where` holds (dotted path, "in" or "not_in", values)."""
    field: str = "text"
    template: str = ""
    where: tuple[tuple[str, str, tuple], ...] = ()

    @property
    def names(self) -> list[str]:
        """The fields a document is made of."""
        if self.template:
            return list(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(self.template) if f))
        return [self.field]

    @property
    def columns(self) -> list[str]:
        """The top-level fields (parquet columns) to read."""
        return list(dict.fromkeys([*self.names, *(path.split(".")[0] for path, _, _ in self.where)]))

    def kept(self, record: dict) -> bool:
        for path, op, values in self.where:
            value: Any = record
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if (value in values) != (op == "in"):
                return False
        return True

    def text(self, record: dict) -> tuple[str | None, str]:
        """(the document, "") or (None, why it cannot be made)."""
        if self.template:  # any value a template can format (numbers too), but not a missing one
            missing = next((f for f in self.names if record.get(f) is None), None)
            return (None, f"no field {missing!r}") if missing is not None else (self.template.format_map(record), "")
        text = record.get(self.field)
        return (text, "") if isinstance(text, str) else (None, f"no string field {self.field!r}")


@dataclass
class Malformed:
    """Records that could not be read, with the first few named as file:line."""
    source: str
    records: int = 0
    bad: int = 0
    filtered: int = 0   # left out by a `where` filter: read fine, not wanted
    first: list[str] = field(default_factory=list)

    def add(self, where: str, why: str) -> None:
        self.bad += 1
        if len(self.first) < SHOWN:
            self.first.append(f"{where} ({why})")

    @classmethod
    def merged(cls, source: str, reports: list[dict]) -> "Malformed":
        """One source's count from its files' reports (`report`), in order."""
        bad = cls(source)
        for r in reports:
            bad.records += r["records"]
            bad.bad += r["malformed"]
            bad.filtered += r["filtered"]
            bad.first += r["first_malformed"][:SHOWN - len(bad.first)]
        return bad

    def report(self, files: int) -> dict:
        """What the manifest keeps."""
        return {"files": files, "records": self.records, "malformed": self.bad, "first_malformed": self.first,
                "filtered": self.filtered}

    def check(self, max_fraction: float) -> None:
        """Refuses the source in one line when more than `max_fraction` of its records were bad."""
        if self.records and self.bad / self.records > max_fraction:
            raise ValueError(f"source {self.source}: {self.bad:,} of {self.records:,} records are malformed "
                             f"(over {max_fraction:.1%}; --max-bad-fraction), first {'; '.join(self.first)}")


def _open(path: str):
    """A file's bytes (local, s3:// or hf://), decompressed when it ends in .gz or .zst."""
    stream = open_stream(path)
    if str(path).endswith(".gz"):
        return gzip.open(stream, "rb")
    if str(path).endswith(".zst"):
        import pyarrow as pa
        from trainers.data.files import buffered
        return buffered(pa.CompressedInputStream(pa.PythonFile(stream, mode="r"), "zstd"))
    return stream


def _jsonl(path: str, fields: Fields, bad: Malformed) -> Iterator[tuple[str, str]]:
    with _open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            bad.records += 1
            where = f"{path}:{number}"
            try:
                record = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                bad.add(where, "not UTF-8")
                continue
            except json.JSONDecodeError:
                bad.add(where, "not JSON")
                continue
            if not isinstance(record, dict):
                bad.add(where, "not a JSON object")
                continue
            if not fields.kept(record):
                bad.filtered += 1
                continue
            text, why = fields.text(record)
            if text is None:
                bad.add(where, why)
                continue
            yield f"{name(path)}/{number}", text


def _parquet(path: str, fields: Fields, bad: Malformed) -> Iterator[tuple[str, str]]:
    import pyarrow.parquet as pq
    with open_random(path) as f:
        row = 0
        for batch in pq.ParquetFile(f).iter_batches(columns=fields.columns, batch_size=1024):
            for record in batch.to_pylist():
                row += 1
                bad.records += 1
                if not fields.kept(record):
                    bad.filtered += 1
                    continue
                text, why = fields.text(record)
                if text is None:
                    bad.add(f"{path}:row {row}", why)
                    continue
                yield f"{name(path)}/{row}", text


def _text(path: str, bad: Malformed) -> Iterator[tuple[str, str]]:
    bad.records += 1
    try:
        with _open(path) as f:
            text = io.TextIOWrapper(f, encoding="utf-8").read()
    except UnicodeDecodeError:
        bad.add(str(path), "not UTF-8")
        return
    yield name(path), text


def read_documents(files: list[str], fmt: str, fields: Fields, bad: Malformed) -> Iterator[tuple[str, str]]:
    """(doc_id, text) of every readable, wanted record of the files (paths or URIs), in
    order; `fmt` "" by suffix."""
    for path in files:
        kind = fmt or format_of(name(path))
        if kind == "jsonl":
            yield from _jsonl(path, fields, bad)
        elif kind == "parquet":
            yield from _parquet(path, fields, bad)
        else:
            yield from _text(path, bad)


def missing_field(path: str, fmt: str, fields: Fields) -> str | None:
    """The first field the documents need that a file's records lack (checked on its schema
    or first record); None if it has them all."""
    kind = fmt or format_of(name(path))
    if kind == "parquet":
        import pyarrow.parquet as pq
        with open_random(path) as f:
            names = pq.ParquetFile(f).schema_arrow.names
        return next((c for c in fields.columns if c not in names), None)
    if kind == "jsonl":
        with _open(path) as f:
            for line in f:
                if line.strip():
                    try:
                        record = json.loads(line)
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        return None  # a malformed first line is counted when read, not a missing field
                    return next((c for c in fields.columns if not isinstance(record, dict) or c not in record), None)
    return None  # an empty file has no records to miss it; a text file is its document
