"""File imports (``ripple import ...``): one reader for every input file and one entry point for every importer.

:func:`read_chunks` streams a plain, ``.zst`` or ``.gz`` file as decompressed bytes. ``.zst`` is read with
``max_window_size=2**31``, so the ``--long=31`` frames of the published Reddit dumps work, frame after frame;
a stream that ends inside a frame (a download cut short) sets :attr:`ReadReport.truncated` instead of failing.

:func:`import_files` checks the files first (a missing or empty file is one :class:`ConfigError` line, the same
for every importer), then runs one ingest, with one run id, per file: re-importing a file replaces what its
earlier import wrote.
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import zstandard

from pipeline.errors import ConfigError
from pipeline.lake import IngestResult, run_id_for

log = logging.getLogger(__name__)

MAX_WINDOW = 2**31
READ_BYTES = 1 << 20
# compressed bytes per decompress call: dumps compress ~15x, and outputs much over 1 MiB cost page faults
ZST_READ_BYTES = 1 << 16


@dataclass
class ReadReport:
    """What a read of one file saw; ``truncated`` is set when a compressed stream ends inside a frame."""

    lines: int = 0
    truncated: bool = False
    tail: bytes = b""


def _zst_chunks(path: Path, report: ReadReport) -> Iterator[bytes]:
    dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
    dobj = dctx.decompressobj()
    in_frame = False
    with open(path, "rb") as fh:
        while data := fh.read(ZST_READ_BYTES):
            while data:
                out = dobj.decompress(data)
                in_frame = True
                if out:
                    yield out
                if dobj.eof:
                    # the next frame (files made by concatenating frames) starts in what is left
                    data = dobj.unused_data
                    dobj = dctx.decompressobj()
                    in_frame = False
                else:
                    data = b""
    if in_frame:
        report.truncated = True


def _gz_chunks(path: Path, report: ReadReport, size: int) -> Iterator[bytes]:
    with gzip.open(path, "rb") as fh:
        try:
            while data := fh.read(size):
                yield data
        except (EOFError, zlib.error):
            report.truncated = True


def _plain_chunks(path: Path, size: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while data := fh.read(size):
            yield data


def read_chunks(path: Path, report: ReadReport | None = None, size: int = READ_BYTES) -> Iterator[bytes]:
    """The decompressed bytes of ``path`` (plain, ``.zst`` or ``.gz``), in chunks of no particular size."""
    report = report if report is not None else ReadReport()
    if path.name.endswith(".zst"):
        return _zst_chunks(path, report)
    if path.name.endswith(".gz"):
        return _gz_chunks(path, report, size)
    return _plain_chunks(path, size)


def read_lines(path: Path, report: ReadReport) -> Iterator[bytes]:
    """The lines of ``path`` without their newline. A last line without a newline is a line, except at the end
    of a truncated stream, where it is kept in ``report.tail``; ``report.lines`` counts the lines yielded."""
    carry = b""
    for chunk in read_chunks(path, report):
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        report.lines += len(lines)
        yield from lines
    if carry and report.truncated:
        report.tail = carry
    elif carry:
        report.lines += 1
        yield carry


def inner_suffix(path: Path) -> str:
    """The suffix of the content: ``.json`` for ``x.json.gz``."""
    return Path(path.stem).suffix if path.suffix in (".gz", ".zst") else path.suffix


def check_files(source: str, paths: Iterable[str | Path]) -> list[Path]:
    """The input files, or one line saying which is missing or empty."""
    files = [Path(p) for p in paths]
    if not files:
        raise ConfigError(f"{source}: give at least one file to import")
    for path in files:
        if not path.is_file():
            raise ConfigError(f"{source}: no such file: {path}")
        chunks = read_chunks(path)
        first = next(chunks, b"")
        chunks.close()  # type: ignore[attr-defined]
        if not first:
            raise ConfigError(f"{source}: {path} is empty: nothing to import")
    return files


def file_label(path: Path, strip: tuple[str, ...] = ()) -> str:
    """Stable run label of an input file: its name (less the ``strip`` suffixes) and its size in bytes."""
    stem = path.name
    for suffix in strip:
        stem = stem.removesuffix(suffix)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
    return f"{stem}-{path.stat().st_size}"


def import_files(
    source: str,
    paths: Iterable[str | Path],
    label: Callable[[Path], str],
    import_one: Callable[[Path, str], IngestResult],
) -> list[IngestResult]:
    """Check the files, then ``import_one(path, run_id)`` for each, in order."""
    results = []
    for path in check_files(source, paths):
        run_id = run_id_for(source, None, label=label(path))
        log.info("importing %s as %s", path, run_id)
        results.append(import_one(path, run_id))
    return results
