"""Streaming readers: every input becomes an iterator of Arrow RecordBatches.

Memory is bounded by the chunk size: CSV through pyarrow's streaming,
multithreaded reader, Parquet row group by row group, JSON Lines in chunks of
whole lines. Anything that cannot be parsed at all raises ``UnreadableData``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Mapping

import pyarrow as pa

from .errors import UnreadableData

TABLE_BATCH_ROWS = 65_536
CSV_PARSE_BLOCK = 1 << 20   # pyarrow's CSV reader holds ~40 blocks in flight: 1 MiB blocks keep that ~40 MB
_FORMATS = ((".csv.gz", "csv"), (".csv", "csv"), (".parquet", "parquet"), (".pq", "parquet"),
            (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"), (".jsonl.gz", "jsonl"))


def detect_format(name: str) -> tuple[str, bool]:
    """(format, gzipped) from a file name; ``UnreadableData`` for unknown suffixes."""
    lower = name.lower()
    for suffix, fmt in _FORMATS:
        if lower.endswith(suffix):
            return fmt, lower.endswith(".gz")
    raise UnreadableData(
        f"cannot tell the format of {name!r}: expected .csv, .csv.gz, .parquet, .pq, .jsonl, .ndjson or .json")


@dataclass
class ReadState:
    """What a read found besides data: reported as findings by the caller."""

    skipped_columns: set[str] = field(default_factory=set)
    malformed_rows: int = 0
    bytes_read: int = 0


class Source:
    """A re-iterable source of RecordBatches.

    ``batches(kinds, columns)`` may be called more than once (a large
    reference profile reads twice). ``kinds`` maps column names to ``"numeric"`` or
    ``"categorical"`` so CSV columns are parsed straight to the right type;
    ``columns`` limits reading to those names (others are noted in
    ``state.skipped_columns``).
    """

    def __init__(self, opener: Callable[[], Any] | None, fmt: str, gz: bool, name: str,
                 batches: Callable[[], Iterator[pa.RecordBatch]] | None = None,
                 size: int | None = None) -> None:
        self._opener, self.format, self._gz, self.name = opener, fmt, gz, name
        self._batches = batches
        self.size = size
        self.state = ReadState()
        self.on_batch: Callable[[pa.RecordBatch, ReadState], None] | None = None   # progress hook
        self._cleanup: list[Callable[[], None]] = []

    def batches(self, kinds: Mapping[str, str] | None = None,
                columns: Iterable[str] | None = None, block_size: int = 4 << 20) -> Iterator[pa.RecordBatch]:
        self.state = ReadState()
        wanted = None if columns is None else set(columns)
        if self._batches is not None:
            batches = _select(self._batches(), wanted, self.state)
        elif self.format == "csv":
            batches = _prefetch(_coalesce(_csv_batches(self._open, kinds or {}, wanted,
                                                       min(block_size, CSV_PARSE_BLOCK), self.state), block_size))
        elif self.format == "parquet":
            batches = _prefetch(_parquet_batches(self._file_opener, wanted, self.state))
        else:
            batches = _jsonl_batches(self._open, block_size, self.state)
        for batch in batches:
            if self.on_batch is not None:
                self.on_batch(batch, self.state)
            yield batch

    @property
    def _file_opener(self) -> Callable[[], Any]:
        assert self._opener is not None, "a Source reads either a file (opener) or Arrow batches"
        return self._opener

    def _open(self) -> pa.NativeFile:
        raw = self._file_opener()
        stream = raw if isinstance(raw, pa.NativeFile) else pa.PythonFile(_KeepOpen(raw), mode="r")
        return pa.CompressedInputStream(stream, "gzip") if self._gz else stream

    def close(self) -> None:
        for fn in self._cleanup:
            fn()
        self._cleanup.clear()

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _KeepOpen(io.RawIOBase):
    """The caller's file object, read through Arrow without Arrow closing it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def readinto(self, b: Any) -> int:
        data = self._raw.read(len(b))
        b[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def open_source(source: Any, *, name: str | None = None, replayable: bool = False) -> Source:
    """Wrap a path, binary file-like, pandas DataFrame, Arrow Table/RecordBatch or batch iterator.

    Non-seekable streams are always spooled to a temporary file;
    ``replayable=True`` makes batch iterators re-iterable the same way (on
    disk, not in memory).
    """
    if isinstance(source, Source):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        fmt, gz = detect_format(name or path)
        size = os.path.getsize(path)
        if size == 0:
            raise UnreadableData(f"{os.path.basename(path)} is empty (0 bytes)")
        return Source(lambda: pa.OSFile(path, "rb"), fmt, gz, name or path, size=size)
    if isinstance(source, pa.Table):
        return Source(None, "arrow", False, name or "<table>",
                      batches=lambda: iter(source.to_batches(max_chunksize=TABLE_BATCH_ROWS)))
    if isinstance(source, pa.RecordBatch):
        return Source(None, "arrow", False, name or "<batch>", batches=lambda: iter([source]))
    if _is_dataframe(source):
        table = _table_from_pandas(source)
        return Source(None, "arrow", False, name or "<dataframe>",
                      batches=lambda: iter(table.to_batches(max_chunksize=TABLE_BATCH_ROWS)))
    if hasattr(source, "read"):
        return _file_source(source, name)
    if isinstance(source, Iterable):
        return _iterator_source(iter(source), name or "<batches>", replayable)
    raise TypeError(f"cannot read drift data from {type(source).__name__}")


def _file_source(fileobj: BinaryIO, name: str | None) -> Source:
    name = name or getattr(fileobj, "name", None)
    if not isinstance(name, str):
        raise UnreadableData("cannot tell the format of an unnamed stream: pass name='file.csv' (or .parquet, .jsonl)")
    fmt, gz = detect_format(name)
    seekable = getattr(fileobj, "seekable", lambda: False)()
    if seekable:
        start = fileobj.tell()
        fileobj.seek(0, io.SEEK_END)
        size = fileobj.tell() - start
        fileobj.seek(start)
        if size == 0:
            raise UnreadableData(f"{name} is empty (0 bytes)")

        def reopen() -> BinaryIO:
            fileobj.seek(start)
            return fileobj
        return Source(reopen, fmt, gz, name, size=size)
    # Not seekable (e.g. a network download stream): spool to disk once.
    # The spool is named by the format only: a blob's name can be longer than a file name may be.
    suffix = next(ext for ext, f in _FORMATS if name.lower().endswith(ext) and f == fmt)
    spool = tempfile.NamedTemporaryFile(prefix="driftline-", suffix=suffix, delete=False)
    with spool:
        shutil.copyfileobj(fileobj, spool, 1 << 20)
    src = open_source(spool.name, name=name)
    src._cleanup.append(lambda: os.unlink(spool.name))
    return src


def _iterator_source(batches: Iterator[Any], name: str, replayable: bool) -> Source:
    if not replayable:
        return Source(None, "arrow", False, name, batches=lambda: _as_batches(batches))
    import pyarrow.ipc as ipc

    segments: list[str] = []  # one Arrow IPC file per run of batches with the same schema
    consumed = [False]

    def replay() -> Iterator[pa.RecordBatch]:
        if consumed[0]:
            for path in segments:
                with pa.memory_map(path) as mm:
                    yield from ipc.open_stream(mm)
            return
        consumed[0] = True
        writer, writer_schema = None, None
        try:
            for batch in _as_batches(batches):
                if writer is None or batch.schema != writer_schema:
                    if writer is not None:
                        writer.close()
                    fd, path = tempfile.mkstemp(prefix="driftline-", suffix=".arrows")
                    os.close(fd)
                    segments.append(path)
                    writer, writer_schema = ipc.new_stream(path, batch.schema), batch.schema
                writer.write_batch(batch)
                yield batch
        finally:
            if writer is not None:
                writer.close()

    def remove_segments() -> None:
        for path in segments:
            os.unlink(path)

    src = Source(None, "arrow", False, name, batches=replay)
    src._cleanup.append(remove_segments)
    return src


def _as_batches(items: Iterable[Any]) -> Iterator[pa.RecordBatch]:
    for item in items:
        if isinstance(item, pa.Table):
            yield from item.to_batches(max_chunksize=TABLE_BATCH_ROWS)
        elif isinstance(item, pa.RecordBatch):
            yield item
        else:
            raise TypeError(f"expected Arrow RecordBatches, got {type(item).__name__}")


def _select(batches: Iterator[pa.RecordBatch], wanted: set[str] | None,
            state: ReadState) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        state.bytes_read += batch.nbytes
        if wanted is not None:
            extra = [n for n in batch.schema.names if n not in wanted]
            if extra:
                state.skipped_columns.update(extra)
                batch = batch.select([n for n in batch.schema.names if n in wanted])
        yield batch


def _is_dataframe(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "pandas" and hasattr(obj, "columns")


def _table_from_pandas(df: Any) -> pa.Table:
    """DataFrame to Arrow; object columns with mixed types become strings (nulls kept)."""
    arrays, names = [], []
    for col in df.columns:
        series = df[col]
        try:
            arr = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            arr = pa.array([None if _is_missing(v) else str(v) for v in series], type=pa.string())
        arrays.append(arr)
        names.append(str(col))
    return pa.Table.from_arrays(arrays, names=names)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


_END = object()


def _prefetch(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """``batches``, produced by a background thread up to ``depth`` batches ahead.

    pyarrow parses without holding the GIL, so the next batch is parsed on
    another core while the caller counts this one. Errors of the reader are
    raised here; if the caller stops early, the reader is closed (its file too).
    """
    import queue
    import threading

    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_END)
        except BaseException as exc:   # handed to the caller's thread
            put(exc)
        finally:
            getattr(batches, "close", lambda: None)()

    worker = threading.Thread(target=produce, name="driftline-read", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _coalesce(batches: Iterator[pa.RecordBatch], min_bytes: int) -> Iterator[pa.RecordBatch]:
    """Join consecutive batches of the same schema until they hold ``min_bytes``.

    Small parse blocks bound the CSV reader's memory; counting pays a fixed
    cost per batch and column, so it gets batches of ``block_size`` again.
    """
    group: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        if group and batch.schema != group[0].schema:
            yield pa.concat_batches(group)
            group, size = [], 0
        group.append(batch)
        size += batch.nbytes
        if size >= min_bytes:
            yield group[0] if len(group) == 1 else pa.concat_batches(group)
            group, size = [], 0
    if group:
        yield group[0] if len(group) == 1 else pa.concat_batches(group)


# --- CSV --------------------------------------------------------------------

def _csv_names(open_stream: Callable[[], pa.NativeFile]) -> list[str]:
    import pyarrow.csv as pcsv

    with open_stream() as stream:
        try:
            head = stream.read(1 << 16)
        except (OSError, EOFError) as exc:
            raise UnreadableData(f"not a readable CSV file: {_first_line(exc)}") from exc
    if not head.strip():
        raise UnreadableData("CSV file has no header line (only whitespace)")
    if b"\0" in head or not _is_utf8(head):
        raise UnreadableData("not a CSV text file: it contains binary bytes that are not UTF-8 text")
    with open_stream() as stream:
        try:
            reader = pcsv.open_csv(stream, read_options=pcsv.ReadOptions(block_size=1 << 16),
                                   parse_options=pcsv.ParseOptions(invalid_row_handler=lambda row: "skip"),
                                   convert_options=pcsv.ConvertOptions(column_types={}, strings_can_be_null=True))
            return list(reader.schema.names)
        except (pa.ArrowInvalid, OSError, EOFError) as exc:
            raise UnreadableData(f"not a readable CSV file: {_first_line(exc)}") from exc


def _csv_batches(open_stream: Callable[[], pa.NativeFile], kinds: Mapping[str, str], wanted: set[str] | None,
                 block_size: int, state: ReadState) -> Iterator[pa.RecordBatch]:
    """CSV batches; a value that does not fit an inferred/declared type mid-file restarts
    the read with those columns as strings and skips the rows already yielded."""
    names = _csv_names(open_stream)
    if len(set(names)) != len(names):
        raise UnreadableData("CSV header has duplicate column names")
    include = names if wanted is None else [n for n in names if n in wanted]
    state.skipped_columns.update(n for n in names if wanted is not None and n not in wanted)
    types = {n: (pa.float64() if kinds[n] == "numeric" else pa.string()) for n in include if n in kinds}
    yielded = 0
    for attempt in range(2):
        try:
            for batch in _csv_attempt(open_stream, include, types, block_size, state, skip=yielded):
                yielded += batch.num_rows
                yield batch
            return
        except pa.ArrowInvalid as exc:
            if attempt == 1 or "conversion error" not in str(exc).lower() or "utf8" in str(exc).lower():
                raise UnreadableData(f"not a readable CSV file: {_first_line(exc)}") from exc
            types = {n: pa.string() for n in include}
            state.malformed_rows = 0   # the re-read parses (and counts) every row again
        except (OSError, EOFError) as exc:
            raise UnreadableData(f"not a readable CSV file: {_first_line(exc)}") from exc


def _csv_attempt(open_stream: Callable[[], pa.NativeFile], include: list[str], types: dict[str, pa.DataType],
                 block_size: int, state: ReadState, skip: int) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pcsv

    def on_bad_row(row: Any) -> str:
        state.malformed_rows += 1
        return "skip"

    with open_stream() as stream:
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(block_size=block_size, use_threads=True),
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_bad_row),
            convert_options=pcsv.ConvertOptions(column_types=types, include_columns=include,
                                                strings_can_be_null=True),
        )
        for batch in reader:
            state.bytes_read = stream.tell() if not isinstance(stream, pa.CompressedInputStream) else state.bytes_read + batch.nbytes
            if skip:
                drop = min(skip, batch.num_rows)
                skip -= drop
                batch = batch.slice(drop)
            if batch.num_rows:
                yield batch


# --- Parquet ----------------------------------------------------------------

def _parquet_batches(opener: Callable[[], Any], wanted: set[str] | None,
                     state: ReadState) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    try:
        raw = opener()
        pf = pq.ParquetFile(raw if isinstance(raw, pa.NativeFile) else _KeepOpen(raw))
        names = pf.schema_arrow.names
        columns = names if wanted is None else [n for n in names if n in wanted]
        state.skipped_columns.update(n for n in names if n not in columns)
        for batch in pf.iter_batches(batch_size=TABLE_BATCH_ROWS, columns=columns):
            state.bytes_read += batch.nbytes
            yield batch
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, EOFError) as exc:
        raise UnreadableData(f"not a readable Parquet file: {_first_line(exc)}") from exc


# --- JSON Lines -------------------------------------------------------------

def _jsonl_batches(open_stream: Callable[[], pa.NativeFile], block_size: int,
                   state: ReadState) -> Iterator[pa.RecordBatch]:
    rows = 0
    for batch in _jsonl_chunks(open_stream, block_size, state):
        rows += batch.num_rows
        yield batch
    if rows == 0 and state.malformed_rows:
        raise UnreadableData(f"not a readable JSON Lines file: none of its {state.malformed_rows} lines "
                             "is a JSON object")


def _jsonl_chunks(open_stream: Callable[[], pa.NativeFile], block_size: int,
                  state: ReadState) -> Iterator[pa.RecordBatch]:
    try:
        with open_stream() as stream:
            carry = b""
            first = True
            while True:
                chunk = stream.read(block_size)
                if not chunk:
                    break
                state.bytes_read += len(chunk)
                data = carry + chunk
                if first and data.lstrip()[:1] == b"[":
                    raise UnreadableData("file is a JSON array, not JSON Lines (one object per line)")
                first = False
                cut = data.rfind(b"\n")
                if cut < 0:
                    carry = data
                    continue
                carry = data[cut + 1:]
                yield from _parse_json_lines(data[:cut + 1], state)
            if carry.strip():
                yield from _parse_json_lines(carry, state)
    except (OSError, EOFError) as exc:
        raise UnreadableData(f"not a readable JSON Lines file: {_first_line(exc)}") from exc


def _parse_json_lines(data: bytes, state: ReadState) -> Iterator[pa.RecordBatch]:
    import pyarrow.json as pjson

    try:
        table = pjson.read_json(io.BytesIO(data), read_options=pjson.ReadOptions(block_size=max(len(data), 1 << 16)))
        yield from table.to_batches(max_chunksize=TABLE_BATCH_ROWS)
        return
    except pa.ArrowInvalid:
        pass
    # Mixed types in a column or bad lines: parse line by line (slow path, only for dirty chunks).
    rows, bad = [], 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            rows.append(obj)
        else:
            bad += 1
    state.malformed_rows += bad
    if not rows:
        return
    names = list(dict.fromkeys(k for row in rows for k in row))
    yield pa.RecordBatch.from_arrays([_json_column([row.get(n) for row in rows]) for n in names], names=names)


def _json_column(values: list[Any]) -> pa.Array:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, type=pa.bool_())
    return pa.array([None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in values],
                    type=pa.string())


def _is_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and "end of data" in exc.reason   # a character cut by the 64 KiB probe
    return True


def _first_line(exc: BaseException) -> str:
    """First line of an error message, printable and short (it goes into logs and reports)."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= 160 else text[:157] + "..."
