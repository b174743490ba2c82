"""Documents from a user's files, streamed: JSON lines (optionally gzipped), parquet, or one
document per text file.

    for doc_id, text in read_documents(files, "jsonl", "text", bad):   # one at a time
        ...

Nothing holds a whole file: JSON lines are read line by line, parquet a record batch at a
time (pyarrow), text files one file at a time. A record that cannot be read (bad JSON,
undecodable bytes, the field missing or not a string) is counted in `bad` with its file and
line (row) and skipped; the caller decides whether too many were bad (`Malformed.check`).
A document's id is its file and line, so held-out documents are chosen by a hash of where
they are, as for the embedded sources.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass, field
from typing import Iterator

from trainers.data.files import name, open_random, open_stream

FORMATS = ("jsonl", "parquet", "text")
SHOWN = 5  # malformed records named in the report


def format_of(path: str) -> str:
    """A file's format by its suffix: .jsonl/.json(.gz), .parquet, anything else text."""
    name = path.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    return "text"


@dataclass
class Malformed:
    """Records that could not be read, with the first few named as file:line."""
    source: str
    records: int = 0
    bad: int = 0
    first: list[str] = field(default_factory=list)

    def add(self, where: str, why: str) -> None:
        self.bad += 1
        if len(self.first) < SHOWN:
            self.first.append(f"{where} ({why})")

    def check(self, max_fraction: float) -> None:
        """Refuses the source in one line when more than `max_fraction` of its records were bad."""
        if self.records and self.bad / self.records > max_fraction:
            raise ValueError(f"source {self.source}: {self.bad:,} of {self.records:,} records are malformed "
                             f"(over {max_fraction:.1%}; --max-bad-fraction), first {'; '.join(self.first)}")


def _open(path: str):
    """A file's bytes (local, s3:// or hf://), gunzipped when it ends in .gz."""
    stream = open_stream(path)
    return gzip.open(stream, "rb") if str(path).endswith(".gz") else stream


def _jsonl(path: str, key: str, bad: Malformed) -> Iterator[tuple[str, str]]:
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
            text = record.get(key) if isinstance(record, dict) else None
            if not isinstance(text, str):
                bad.add(where, f"no string field {key!r}")
                continue
            yield f"{name(path)}/{number}", text


def _parquet(path: str, key: str, bad: Malformed) -> Iterator[tuple[str, str]]:
    import pyarrow.parquet as pq
    with open_random(path) as f:
        yield from _rows(pq.ParquetFile(f), path, key, bad)


def _rows(table, path: str, key: str, bad: Malformed) -> Iterator[tuple[str, str]]:
    row = 0
    for batch in table.iter_batches(columns=[key], batch_size=1024):
        for text in batch.column(0).to_pylist():
            row += 1
            bad.records += 1
            if not isinstance(text, str):
                bad.add(f"{path}:row {row}", f"{key!r} is not a string")
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


def read_documents(files: list[str], fmt: str, key: str, bad: Malformed) -> Iterator[tuple[str, str]]:
    """(doc_id, text) of every readable record of the files (paths or URIs), in order; `fmt`
    "" by suffix."""
    for path in files:
        kind = fmt or format_of(name(path))
        if kind == "jsonl":
            yield from _jsonl(path, key, bad)
        elif kind == "parquet":
            yield from _parquet(path, key, bad)
        else:
            yield from _text(path, bad)


def first_record_has(path: str, fmt: str, key: str) -> bool:
    """Whether a file's records carry the field (checked on its schema or first record)."""
    kind = fmt or format_of(name(path))
    if kind == "parquet":
        import pyarrow.parquet as pq
        with open_random(path) as f:
            return key in pq.ParquetFile(f).schema_arrow.names
    if kind == "jsonl":
        with _open(path) as f:
            for line in f:
                if line.strip():
                    try:
                        record = json.loads(line)
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        return True  # a malformed first line is counted when read, not a missing field
                    return isinstance(record, dict) and key in record
        return True  # an empty file has no records to miss it
    return True
