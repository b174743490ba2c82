"""A data spec's files: local globs, or `s3://` and `hf://` URIs read through pyarrow's
filesystems, streamed.

    found = expand("s3://corpora/news/*.jsonl.gz", spec_folder)   # sorted; [] if none
    with open_stream(found[0]) as f: ...                          # bytes, one read at a time
    size, mtime_ns = stat(found[0])

`s3://bucket/key-glob` uses pyarrow's S3 filesystem (credentials, region and an
S3-compatible endpoint, `AWS_ENDPOINT_URL`, from the usual environment); `hf://datasets/ID/
path-glob` the Hugging Face hub's (huggingface_hub's `HfFileSystem` under pyarrow). A glob is
matched against the files under the part before its first wildcard. A bucket or repository
that is not there is one ValueError line.
"""

from __future__ import annotations

import fnmatch
import glob
import io
from pathlib import Path

WILDCARDS = "*?["


def is_uri(path) -> bool:
    return "://" in str(path)


def _filesystem(uri: str):
    """(pyarrow filesystem, path within it) for an s3:// or hf:// URI."""
    import pyarrow.fs
    scheme, _, rest = uri.partition("://")
    if scheme == "hf":
        from huggingface_hub import HfFileSystem
        return pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(HfFileSystem())), rest
    if scheme != "s3":
        raise ValueError(f"{uri}: only local paths, s3:// and hf:// are read")
    fs, _ = pyarrow.fs.FileSystem.from_uri(f"s3://{rest.split('/', 1)[0]}")
    return fs, rest


def expand(pattern: str, folder: Path) -> list[str]:
    """The files a pattern names, sorted: local paths (relative to `folder`) or URIs."""
    if not is_uri(pattern):
        full = str(folder / Path(pattern).expanduser())
        return sorted(p for p in glob.glob(full, recursive=True) if Path(p).is_file())
    import pyarrow.fs
    scheme = pattern.split("://", 1)[0]
    fs, path = _filesystem(pattern)
    cut = min((path.find(c) for c in WILDCARDS if c in path), default=len(path))
    base = path[:cut].rsplit("/", 1)[0] if cut < len(path) else path
    try:
        top = fs.get_file_info(base)
        if top.type == pyarrow.fs.FileType.NotFound:
            bucket = path.split("/", 1)[0] if scheme == "s3" else "/".join(path.split("/", 3)[:3])
            if bucket != base and fs.get_file_info(bucket).type == pyarrow.fs.FileType.NotFound:
                raise ValueError(f"{scheme}://{bucket} is not there (or cannot be read with these credentials)")
            return []
        if top.type == pyarrow.fs.FileType.File:
            infos = [top]
        else:
            infos = fs.get_file_info(pyarrow.fs.FileSelector(base, recursive=True))
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure to list (no network, no access) is one line
        first = f"{type(e).__name__}: {str(e).splitlines()[0]}" if str(e) else type(e).__name__
        raise ValueError(f"{pattern}: cannot be listed: {first}") from None
    return sorted(f"{scheme}://{i.path}" for i in infos
                  if i.type == pyarrow.fs.FileType.File and fnmatch.fnmatchcase(i.path, path))


class _Raw(io.RawIOBase):
    """A pyarrow input stream as Python's raw file, so it can be buffered and read by lines."""

    def __init__(self, native):
        self.native = native

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.native.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.native.close()
        super().close()


def buffered(native) -> io.BufferedReader:
    """A pyarrow input stream as a buffered Python file, read in 1 MiB requests."""
    return io.BufferedReader(_Raw(native), buffer_size=1 << 20)


def open_stream(path: str):
    """A buffered binary stream of a file's bytes (a local file, or a remote one read in
    1 MiB requests, in order)."""
    if not is_uri(path):
        return open(path, "rb")
    fs, key = _filesystem(path)
    return buffered(fs.open_input_stream(key, compression=None))


def open_random(path: str):
    """A seekable binary file (what parquet's reader needs: its footer first, then row groups)."""
    if not is_uri(path):
        return open(path, "rb")
    fs, key = _filesystem(path)
    return fs.open_input_file(key)


def stat(path: str) -> tuple[int, int]:
    """(size in bytes, modification time in ns) of a file; remote files without a time give 0."""
    if not is_uri(path):
        s = Path(path).stat()
        return s.st_size, s.st_mtime_ns
    fs, key = _filesystem(path)
    info = fs.get_file_info(key)
    return info.size, info.mtime_ns or 0


def name(path: str) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1]
