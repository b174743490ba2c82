"""Where a sweep keeps its records: a local or mounted folder, or an `s3://` (or `gs://`)
URI read and written through pyarrow's filesystems, as Ray Tune and Train read and write it.

    storage = writable("s3://bucket/sweeps")        # or a folder; checked with a probe write
    write_text(join(storage, "x.sweep.json"), "{}")
    read_text(join(storage, "x.sweep.json"))

A folder is a `Path`; a URI stays a string (Ray and MLflow take it as it is). pyarrow reads
credentials and the endpoint (AWS_ENDPOINT_URL for an S3-compatible server) from the usual
environment variables and files.
"""

from __future__ import annotations

import uuid
from pathlib import Path


def is_uri(storage) -> bool:
    return "://" in str(storage)


def join(storage, *parts: str):
    if is_uri(storage):
        return "/".join([str(storage).rstrip("/"), *parts])
    return Path(storage).joinpath(*parts)


def _fs(uri: str):
    import pyarrow.fs
    return pyarrow.fs.FileSystem.from_uri(uri)


def read_text(path) -> str:
    if not is_uri(path):
        return Path(path).read_text()
    fs, key = _fs(str(path))
    with fs.open_input_stream(key) as f:
        return f.read().decode()


def write_text(path, text: str) -> None:
    if not is_uri(path):
        Path(path).write_text(text)
        return
    fs, key = _fs(str(path))
    with fs.open_output_stream(key) as f:
        f.write(text.encode())


def exists(path) -> bool:
    if not is_uri(path):
        return Path(path).exists()
    import pyarrow.fs
    fs, key = _fs(str(path))
    return fs.get_file_info(key).type != pyarrow.fs.FileType.NotFound


def writable(storage: str):
    """The storage, checked by writing and deleting a probe; one-line ValueError if it cannot be."""
    if not is_uri(storage):
        path = Path(storage).expanduser().resolve()
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".write-test-{uuid.uuid4().hex}"
            probe.touch()
            probe.unlink()
        except OSError as e:
            raise ValueError(f"storage path {str(path)!r} is not writable ({e.strerror})") from None
        return path
    uri = storage.rstrip("/")
    try:
        fs, key = _fs(uri)
        fs.create_dir(key)
        probe = f"{key}/.write-test-{uuid.uuid4().hex}"
        with fs.open_output_stream(probe) as f:
            f.write(b"probe")
        fs.delete_file(probe)
    except (OSError, ValueError) as e:  # pyarrow: OSError for S3 errors, ValueError for a bad URI
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"storage {uri!r} is not writable ({first[:200]})") from None
    return uri
