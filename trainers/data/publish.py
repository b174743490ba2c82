"""A prepared token store published to a bucket (or a shared folder), and each node's copy.

    python -m trainers.data.prepare --spec my_data.yaml --output s3://corpora/my-store
    python sweeps/ratio.py --data s3://corpora/my-store ...        # trains from it on any node

    location = publish(data, "s3://corpora/my-store")             # its manifest.json
    data = PreparedData.open(location)                            # manifest and tokenizer now,
    data.tokens("my_news", "train")                               # a source's shards when first read

A published store holds `manifest.json` (folders relative to it), `tokenizer/` and
`tokens/<entry>/` (the shards and their stats), uploaded through pyarrow's filesystems
(S3's credentials, region and `AWS_ENDPOINT_URL` from the environment). Files already there
with the same size are not sent again, and the manifest goes last: a store with a manifest
is whole. A node keeps one copy under `$CODEMIX_CACHE/stores/<key>/` (the key names the
store and its manifest's contents, so a store published again is copied again): the
tokenizer when the store is opened, each source's shards when a worker first reads them,
downloaded into a temporary folder and renamed, so the workers of one node share one copy
and an interrupted download leaves none.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from common.fetch import cache_root
from trainers.data.files import is_uri

MANIFEST = "manifest.json"
CHUNK = 8 << 20


def manifest_location(location: str) -> str:
    """A store's manifest: the location itself if it names one, else its manifest.json."""
    location = str(location).rstrip("/")
    return location if location.endswith(".json") else f"{location}/{MANIFEST}"


def _filesystem(location: str):
    """(pyarrow filesystem, path) of a URI or a local folder."""
    import pyarrow.fs
    if not is_uri(location):
        location = str(Path(location).expanduser().resolve())
    try:
        return pyarrow.fs.FileSystem.from_uri(location)
    except Exception as e:  # noqa: BLE001 - any unknown scheme or bad URI is one line
        raise ValueError(f"{location}: not a folder or a bucket pyarrow can open ({e})") from None


def _upload(fs, local: Path, remote: str) -> int:
    """The files under `local` into `remote`, those with a different size (or none) there;
    how many were sent."""
    import pyarrow.fs
    there = {info.path: info.size for info in fs.get_file_info(pyarrow.fs.FileSelector(remote, allow_not_found=True,
                                                                                        recursive=True))}
    sent = 0
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = f"{remote}/{path.relative_to(local).as_posix()}"
        if there.get(key) == path.stat().st_size:
            continue
        fs.create_dir(key.rsplit("/", 1)[0], recursive=True)
        with path.open("rb") as src, fs.open_output_stream(key) as out:
            shutil.copyfileobj(src, out, CHUNK)
        sent += 1
    return sent


def check_writable(dest: str) -> None:
    """One ValueError line, before any work, if `dest` is a bucket that is not there."""
    import pyarrow.fs
    fs, root = _filesystem(dest)
    if is_uri(dest):
        bucket = root.split("/", 1)[0]
        try:
            missing = fs.get_file_info(bucket).type == pyarrow.fs.FileType.NotFound
        except Exception as e:  # noqa: BLE001 - no network, no credentials: one line
            raise ValueError(f"--output {dest}: cannot be reached ({type(e).__name__}: {e})") from None
        if missing:
            raise ValueError(f"--output {dest}: bucket {bucket} is not there")


def publish(data, dest: str, say=print) -> str:
    """A prepared store (trainers.data.prepare.PreparedData) copied to `dest` (s3://... or a
    folder every node sees); its manifest's location."""
    fs, root = _filesystem(dest)
    m = json.loads(Path(data.manifest).read_text())
    folders = {"tokenizer": data.tokenizer_dir,
               **{f"tokens/{Path(s['dir']).name}": data.source_dir(name) for name, s in m["sources"].items()}}
    sent = sum(_upload(fs, local, f"{root}/{rel}") for rel, local in folders.items())
    manifest = {**m, "tokenizer": "tokenizer", "missing": m.get("missing", {}),
                "sources": {name: {**{k: v for k, v in s.items() if k != "documents"},
                                   "dir": f"tokens/{Path(s['dir']).name}"} for name, s in m["sources"].items()}}
    with fs.open_output_stream(f"{root}/{MANIFEST}") as out:  # last: a store with a manifest is whole
        out.write(json.dumps(manifest, indent=1, sort_keys=True).encode())
    say(f"published {len(m['sources'])} sources ({sent} files sent, the rest already there) to {dest}")
    return manifest_location(dest)


def node_copy(location: str) -> Path:
    """This node's copy of a published store's manifest (with the tokenizer beside it);
    ValueError in one line if there is no store there."""
    location = manifest_location(location)
    fs, path = _filesystem(location)
    try:
        with fs.open_input_stream(path) as f:
            text = f.read()
    except OSError as e:  # FileNotFoundError included
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{location}: no published store there ({first})") from None
    key = hashlib.sha1(location.encode() + b"\0" + text).hexdigest()[:16]
    local = cache_root() / "stores" / key
    if not (local / MANIFEST).exists():
        _download(fs, f"{path.rsplit('/', 1)[0]}/tokenizer", local / "tokenizer")
        manifest = {**json.loads(text), "store": location}
        tmp = local / f"{MANIFEST}.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        tmp.rename(local / MANIFEST)
    return local / MANIFEST


def fetch(store: str, copy: Path, folder: str) -> Path:
    """A folder of a published store (`folder`, relative to its manifest) in this node's
    copy (`copy`, the folder of the node's manifest), downloaded if the node has none yet."""
    local = copy / folder
    if not local.exists():
        fs, path = _filesystem(store)
        _download(fs, f"{path.rsplit('/', 1)[0]}/{folder}", local)
    return local


def _download(fs, remote: str, local: Path) -> None:
    """A remote folder's files into `local`, whole or not at all (a temporary sibling renamed)."""
    import pyarrow.fs
    if local.exists():
        return
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=local.name + ".tmp-", dir=local.parent))
    try:
        for info in fs.get_file_info(pyarrow.fs.FileSelector(remote, recursive=True)):
            if info.type != pyarrow.fs.FileType.File:
                continue
            out = tmp / info.path[len(remote) + 1:]
            out.parent.mkdir(parents=True, exist_ok=True)
            with fs.open_input_stream(info.path) as src, out.open("wb") as f:
                while chunk := src.read(CHUNK):
                    f.write(chunk)
        tmp.rename(local)
    except OSError:
        if not local.exists():  # another worker of this node finished the same folder first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
