"""One small interface over the local disk and S3-compatible object stores (fsspec).

A :class:`Store` is rooted at a local directory or at ``s3://bucket/prefix``. Paths it hands out and takes are
full locations: absolute local paths, or ``s3://bucket/key`` URIs. The endpoint and the credentials of an object
store come from the standard AWS variables (``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``), read by botocore itself; nothing here stores or prints them.

Writes are whole objects. :meth:`Store.write_bytes` replaces atomically for readers (local: temporary file and
rename; S3: a single PUT). :meth:`Store.create` is create-only (local: hard link of a finished temporary file;
S3: ``If-None-Match: *``) and :meth:`Store.replace_if` is a compare-and-swap on the version :meth:`Store.version`
gives (S3: the ETag with ``If-Match``; local: ``inode-mtime_ns-size`` checked under a file lock).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from pipeline.errors import RippleError

REMOTE_SCHEMES = ("s3://", "s3a://")


class StorageError(RippleError):
    """The object store cannot be reached or used (endpoint, bucket, credentials)."""

    exit_code = 2


def is_remote(location: str | os.PathLike[str] | None) -> bool:
    """Whether ``location`` names an object store (``s3://...``) rather than a local path."""
    return location is not None and str(location).lower().startswith(REMOTE_SCHEMES)


def endpoint_url() -> str:
    """The S3 endpoint botocore will use, for messages (never credentials)."""
    return (
        os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or "the default S3 endpoint"
    )


def _s3_filesystem() -> fsspec.AbstractFileSystem:
    try:
        import s3fs
    except ImportError as exc:  # pragma: no cover - s3fs is a dependency
        raise StorageError("an s3:// location needs the s3fs package: pip install 's3fs'") from exc
    # no listing cache: other processes write the same prefixes; few retries so a dead endpoint fails fast
    fs = s3fs.S3FileSystem(
        use_listings_cache=False,
        skip_instance_cache=True,
        config_kwargs={"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}},
    )
    fs.retries = 3
    return fs


class Store:
    """A local directory or an ``s3://bucket/prefix``, with whole-object reads and (conditional) writes."""

    def __init__(self, root: str | os.PathLike[str]):
        text = str(root)
        self.remote = is_remote(text)
        if self.remote:
            scheme, _, rest = text.partition("://")
            self.root = f"s3://{rest.strip('/')}"
            self.fs: fsspec.AbstractFileSystem = _s3_filesystem()
        else:
            self.root = str(Path(text).resolve())
            self.fs = LocalFileSystem()

    def __repr__(self) -> str:
        return f"Store({self.root!r})"

    # ------------------------------------------------------------------------------------------- paths
    def join(self, *parts: str) -> str:
        """The location of ``parts`` below the root (``parts`` may contain ``/``)."""
        tail = "/".join(str(p).strip("/") for p in parts if str(p).strip("/"))
        if not tail:
            return self.root
        return f"{self.root}/{tail}" if self.remote else str(Path(self.root, tail))

    def relative(self, path: str) -> str:
        """``path`` relative to the root, with ``/`` separators."""
        full = self._full(path)
        if full == self.root:
            return ""
        if not full.startswith(self.root + ("/" if self.remote else os.sep)):
            raise ValueError(f"{path} is not below {self.root}")
        return full[len(self.root) + 1 :].replace(os.sep, "/")

    def local_path(self, path: str) -> Path | None:
        """The local path of ``path``, or None for an object store."""
        return None if self.remote else Path(path)

    def _full(self, path: str) -> str:
        if self.remote:
            return path if is_remote(path) else f"s3://{path.lstrip('/')}"
        return str(path)

    # ------------------------------------------------------------------------------------------- reads
    def exists(self, path: str) -> bool:
        return bool(self._call(self.fs.exists, path))

    def read_bytes(self, path: str) -> bytes:
        return bytes(self._call(self.fs.cat_file, path))

    def version(self, path: str) -> str | None:
        """A token that changes whenever the object is replaced (S3 ETag, local ``inode-mtime_ns-size``); None if
        absent."""
        found = self.stat(path)
        return found[1] or None if found else None

    def stat(self, path: str) -> tuple[int, str] | None:
        """``(size, version)`` of ``path``, or None if it does not exist (one HEAD on an object store)."""
        if not self.remote:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                return None
            # a replace is a new inode: with the inode, two same-size writes within one clock tick still differ
            return st.st_size, f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"
        try:
            info = self._call(self.fs.info, path)
        except FileNotFoundError:
            return None
        return int(info.get("size", 0)), str(info.get("ETag", "")).strip('"')

    def size(self, path: str) -> int:
        return int(self._call(self.fs.size, path))

    def list(self, prefix: str = "", suffix: str = "") -> list[str]:
        """Every object below ``prefix`` (relative to the root, recursive) whose name ends with ``suffix``, sorted."""
        base = self.join(prefix) if prefix else self.root
        if not self.remote:
            if not os.path.isdir(base):
                return []
            found = [  # names starting with "." are temporary files and locks of writes in progress
                os.path.join(d, f)
                for d, _s, files in os.walk(base)
                for f in files
                if f.endswith(suffix) and not f.startswith(".")
            ]
            return sorted(found)
        try:
            keys = self._call(self.fs.find, base)
        except FileNotFoundError:
            return []
        return sorted(self._full(k) for k in keys if k.endswith(suffix))

    def list_modified(self, prefix: str = "", suffix: str = "") -> dict[str, float]:
        """Like :meth:`list`, with each object's last modification time (epoch seconds)."""
        if not self.remote:
            out = {}
            for path in self.list(prefix, suffix):
                with contextlib.suppress(FileNotFoundError):
                    out[path] = os.stat(path).st_mtime
            return out
        try:
            found = self._call(self.fs.find, self.join(prefix) if prefix else self.root, detail=True)
        except FileNotFoundError:
            return {}
        return {
            self._full(name): info["LastModified"].timestamp()
            for name, info in sorted(found.items())
            if name.endswith(suffix) and info.get("LastModified") is not None
        }

    def list_dirs(self, prefix: str = "") -> list[str]:
        """The directories (common prefixes) directly below ``prefix``, sorted."""
        base = self.join(prefix) if prefix else self.root
        if not self.remote:
            return sorted(e.path for e in os.scandir(base) if e.is_dir()) if os.path.isdir(base) else []
        try:
            entries = self._call(self.fs.ls, base, detail=True)
        except FileNotFoundError:
            return []
        return sorted(self._full(e["name"]) for e in entries if e.get("type") == "directory")

    def open(self, path: str, mode: str = "rb") -> IO[Any]:
        """A file object (for streaming reads and writes; a write is visible only once closed)."""
        if not self.remote and any(c in mode for c in "wax"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return self._call(self.fs.open, path, mode)

    # ------------------------------------------------------------------------------------------- writes
    def write_bytes(self, path: str, data: bytes) -> None:
        """Replace ``path`` with ``data``: readers see the old object or the new one, never part of one."""
        if self.remote:
            self._call(self.fs.pipe_file, path, data)
            return
        with self._local_temp(path, data) as tmp:
            os.replace(tmp, path)

    def create(self, path: str, data: bytes) -> bool:
        """Write ``path`` only if it does not exist; False when it does (someone else created it first)."""
        if self.remote:
            try:
                self._call(self.fs.pipe_file, path, data, mode="create")
            except FileExistsError:
                return False
            return True
        with self._local_temp(path, data) as tmp:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        return True

    def replace_if(self, path: str, data: bytes, version: str | None) -> bool:
        """Replace ``path`` only if its current :meth:`version` is ``version`` (None: only if absent)."""
        if version is None:
            return self.create(path, data)
        if not self.remote:
            from filelock import FileLock

            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with FileLock(os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.lock")):
                if self.version(path) != version:
                    return False
                self.write_bytes(path, data)
            return True
        bucket, _, key = self._full(path)[len("s3://") :].partition("/")
        try:
            self._call(
                self.fs.call_s3, "put_object", Bucket=bucket, Key=key, Body=data, IfMatch=f'"{version}"'
            )
        except (FileNotFoundError, FileExistsError):
            return False
        except OSError as exc:
            if _precondition_failed(exc):
                return False
            raise
        return True

    def delete(self, path: str) -> None:
        """Remove ``path``; a missing object is not an error."""
        with contextlib.suppress(FileNotFoundError):
            self._call(self.fs.rm_file, path)

    def delete_many(self, paths: list[str]) -> None:
        """Remove ``paths`` (batched on an object store: up to 1,000 per request); missing ones are not errors."""
        if not paths:
            return
        if not self.remote:
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            return
        keys = [self._full(p)[len("s3://") :].partition("/") for p in paths]
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            objects = [{"Key": key} for _bucket, _, key in chunk]
            bucket = chunk[0][0]
            self._call(
                self.fs.call_s3, "delete_objects", Bucket=bucket, Delete={"Objects": objects, "Quiet": True}
            )

    # ------------------------------------------------------------------------------------------- helpers
    @contextlib.contextmanager
    def _local_temp(self, path: str, data: bytes) -> Iterator[str]:
        """A finished, fsynced temporary file (mode 0600) next to ``path``; removed afterwards."""
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            yield tmp
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the filesystem; connection, credential and bucket failures become one clear StorageError."""
        try:
            return method(*args, **kwargs)
        except FileNotFoundError as exc:
            if self.remote and "bucket" in str(exc).lower():  # NoSuchBucket, not a missing key
                raise StorageError(
                    f"lake {self.root}: bucket {self.root.split('/')[2]!r} does not exist"
                ) from None
            raise
        except Exception as exc:
            if not self.remote:
                raise
            message = describe_failure(exc)
            if message is None:
                raise
            raise StorageError(f"lake {self.root}: {message}") from None


def _precondition_failed(exc: BaseException) -> bool:
    cause = exc.__cause__
    response = getattr(cause, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("PreconditionFailed", "412") or getattr(exc, "errno", None) == errno.EINVAL


def describe_failure(exc: BaseException) -> str | None:
    """A one-line reason for an object-store failure the user must fix, or None for other errors."""
    name = type(exc).__name__
    seen: BaseException | None = exc
    while seen is not None:
        name = type(seen).__name__
        if name in (
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ClientConnectorError",
            "ConnectionError",
        ):
            return f"cannot connect to {endpoint_url()}"
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            return "no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        if isinstance(seen, PermissionError):
            return "access denied (check the credentials and the bucket policy)"
        seen = seen.__cause__ or seen.__context__
    return None


def check(store: Store) -> None:
    """Fail early with one line when the store's bucket cannot be reached or does not exist."""
    if not store.remote:
        return
    bucket = store.root.split("/")[2]
    try:
        store._call(store.fs.call_s3, "head_bucket", Bucket=bucket)
    except (FileNotFoundError, StorageError) as exc:
        if isinstance(exc, StorageError) and "does not exist" not in str(exc):
            raise
        raise StorageError(f"lake {store.root}: bucket {bucket!r} does not exist") from None
