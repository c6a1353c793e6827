"""Reading a provider's archive of a tree safely, and writing Driftline's own archive of it.

`read_tree(data, limits, strip_top_folder=...)` reads a tar, a gzip tar or a zip and gives the tree's
regular files (path, exec bit, content). It guarantees:
- nothing is written to disk and no link is followed: the archive is only read;
- memory and time stay bounded: file content is counted against `limits.max_bytes` from each entry's
  header before it is read; the decompressed tar stream (headers included) is counted while it is
  inflated and refused past `limits.max_archive_bytes`, so a gzip or zip bomb is refused at the limit,
  never expanded whole; a tar's pax and GNU long-name headers are checked (each at most
  `EXTENDED_HEADER_MAX`, all together at most `limits.max_header_bytes`) before tarfile parses them;
- refused with a `SnapshotError` (one sentence): absolute paths, `..` segments, NUL or backslash in
  a path, symlinks, hard links, devices and fifos, encrypted zip entries, duplicate paths, a path
  that is both a file and a folder, more than `limits.max_files` files, more than `limits.max_bytes`
  of content, a zip listing more entries than such a tree has (checked before zipfile reads its
  directory), anything that is not a readable tar, gzip tar or zip;
- with `strip_top_folder` (GitHub's `owner-repo-sha7/`), every file must sit under one top-level
  folder, which is removed from the paths;
- `Tree.commit` is the commit id the archive declares (`git archive` writes it as the pax global
  header `comment`, or as the zip comment), None when it declares none.

`canonical_archive(files)` writes Driftline's archive: a gzip tar of regular files only, sorted by
path, with mtime 0, uid/gid 0, no owner names and mode 0644 or 0755, so the same tree gives the same
bytes whichever provider it came from. `tar_bytes` is the same writer with a pax comment and without
gzip, for sources that build their archive from git objects.
"""

from __future__ import annotations

import gzip
import io
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from shared.platform.errors import DriftlineError
from shared.platform.settings import Settings

CHUNK = 64 * 1024
# A pax or GNU long-name header holds a path or the commit id: a path of 4096 characters and its record.
# tarfile's pax parser is quadratic on crafted headers before Python 3.11.10 / 3.12.6 (CVE-2024-6232),
# so headers are checked against this, and their total against the limits, before tarfile parses them.
EXTENDED_HEADER_MAX = 4096 + 64
EXTENDED_HEADERS = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                    tarfile.GNUTYPE_LONGLINK)
# A full commit id: SHA-1, or SHA-256 for repositories in that format (as `git archive` declares it).
COMMIT_ID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


class SnapshotError(DriftlineError):
    """A tree Driftline refuses to take, or a stored snapshot that is not what its manifest says."""


@dataclass(frozen=True)
class SnapshotLimits:
    """How much of a tree a snapshot may take: files, and bytes of content (uncompressed)."""

    max_bytes: int = 50 * 1024 * 1024
    max_files: int = 5000

    @property
    def max_archive_bytes(self) -> int:
        """The largest archive (or inflated tar stream) that can hold a tree within these limits: the
        content plus a generous 4 KiB per file for headers, padding and folder entries, plus 1 MiB."""
        return self.max_bytes + 4096 * self.max_files + 1024 * 1024

    @property
    def max_header_bytes(self) -> int:
        """The most bytes of pax and GNU long-name headers a tar may hold: 256 a file, at least 1 MiB."""
        return max(1024 * 1024, 256 * self.max_files)


def snapshot_limits(settings: Settings) -> SnapshotLimits:
    """The limits set by DRIFTLINE_SNAPSHOT_MAX_BYTES and DRIFTLINE_SNAPSHOT_MAX_FILES."""
    return SnapshotLimits(max_bytes=settings.snapshot_max_bytes, max_files=settings.snapshot_max_files)


@dataclass(frozen=True)
class TreeFile:
    """One regular file of a tree."""

    path: str  # relative, '/'-separated, clean
    executable: bool
    data: bytes


@dataclass(frozen=True)
class Tree:
    """The files of an archive, sorted by path, and the commit id it declares (None when it declares none)."""

    files: tuple[TreeFile, ...]
    commit: str | None


class Budget:
    """Counts files and bytes against `SnapshotLimits` before they are read; raises SnapshotError past them."""

    def __init__(self, limits: SnapshotLimits):
        self.limits = limits
        self.files = 0
        self.bytes = 0
        self.header_bytes = 0

    def add(self, path: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        if self.files > self.limits.max_files:
            raise SnapshotError(f"the tree has more than {self.limits.max_files} files, the most a snapshot may take.")
        if self.bytes > self.limits.max_bytes:
            raise SnapshotError(f"the tree holds more than {self.limits.max_bytes} bytes (reached at {path!r}), "
                                "the most a snapshot may take.")

    def add_header(self, size: int) -> None:
        self.header_bytes += size
        if size > EXTENDED_HEADER_MAX:
            raise SnapshotError(f"the archive has an extended header of {size} bytes, more than the "
                                f"{EXTENDED_HEADER_MAX} a path or commit id needs.")
        if self.header_bytes > self.limits.max_header_bytes:
            raise SnapshotError(f"the archive's extended headers hold more than {self.limits.max_header_bytes} bytes.")


def _clean_path(name: str) -> str:
    """The archive member's path as a relative '/'-separated path; raises SnapshotError when unsafe."""
    if "\x00" in name or "\\" in name:
        raise SnapshotError(f"the archive has a path with a NUL or backslash ({name[:80]!r}).")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise SnapshotError(f"the archive has an absolute path ({name[:80]!r}).")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise SnapshotError(f"the archive has a path with a '..' segment ({name[:80]!r}).")
    if not parts:
        raise SnapshotError(f"the archive has an entry with an empty path ({name[:80]!r}).")
    return "/".join(parts)


def read_tree(data: bytes, limits: SnapshotLimits, *, strip_top_folder: bool) -> Tree:
    """The regular files of a tar, gzip tar or zip, checked as the module docstring says."""
    budget = Budget(limits)
    try:
        if data[:2] == b"\x1f\x8b":
            stream = _Bounded(gzip.GzipFile(fileobj=io.BytesIO(data)), limits.max_archive_bytes)
            files, commit = _read_tar(stream, budget)
        elif data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            files, commit = _read_zip(data, budget)
        elif data[257:262] == b"ustar":
            files, commit = _read_tar(_Bounded(io.BytesIO(data), limits.max_archive_bytes), budget)
        else:
            raise SnapshotError("the archive is neither a tar, a gzip tar nor a zip.")
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise SnapshotError(f"the archive cannot be read ({type(error).__name__}: {error}).") from None
    if strip_top_folder:
        files = _strip_top_folder(files)
    return Tree(_checked(files), commit)


def canonical_archive(files: Iterable[TreeFile]) -> bytes:
    """Driftline's archive of the files: the same files give the same bytes."""
    return tar_bytes(files, gzipped=True)


def tar_bytes(files: Iterable[TreeFile], *, gzipped: bool, comment: str | None = None) -> bytes:
    """A tar of the files sorted by path with fixed metadata; `comment` becomes the pax global header
    `comment` (as `git archive` writes the commit id); gzip with mtime 0 and no file name."""
    out = io.BytesIO()
    pax = {"comment": comment} if comment is not None else {}
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, pax_headers=pax) as tar:
        for file in sorted(files, key=lambda f: f.path):
            info = tarfile.TarInfo(file.path)
            info.size, info.mode, info.mtime = len(file.data), 0o755 if file.executable else 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(file.data))
    return gzip.compress(out.getvalue(), mtime=0) if gzipped else out.getvalue()


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Bounded(io.RawIOBase):
    """A read-only stream that raises SnapshotError once more than `limit` bytes have been read."""

    def __init__(self, inner: _Readable, limit: int):
        self._inner, self._limit, self._read = inner, limit, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._limit + 1 - self._read
        data = self._inner.read(max(0, min(size, self._limit + 1 - self._read)))
        self._read += len(data)
        if self._read > self._limit:
            raise SnapshotError(f"the archive expands past {self._limit} bytes, more than a tree within the "
                                "limits can take (a compression bomb?).")
        return data


def _read_tar(stream: _Bounded, budget: Budget) -> tuple[list[TreeFile], str | None]:
    files = []
    with tarfile.open(fileobj=stream, mode="r|", tarinfo=_checked_headers(budget)) as tar:
        for member in tar:
            path = _clean_path(member.name)
            if member.isdir():
                continue
            if member.issym():
                raise SnapshotError(f"the archive has a symlink ({path!r}); a snapshot takes regular files only.")
            if member.islnk():
                raise SnapshotError(f"the archive has a hard link ({path!r}); a snapshot takes regular files only.")
            if not member.isreg():
                raise SnapshotError(f"the archive has a device, fifo or other special file ({path!r}); "
                                    "a snapshot takes regular files only.")
            budget.add(path, member.size)
            content = tar.extractfile(member)
            assert content is not None  # a regular member always has content
            files.append(TreeFile(path, bool(member.mode & 0o111), _read_exactly(content, member.size, path)))
        comment = tar.pax_headers.get("comment", "").strip()
    return files, comment if COMMIT_ID.match(comment) else None


def _checked_headers(budget: Budget) -> type[tarfile.TarInfo]:
    """A TarInfo that counts each extended header with the budget before tarfile reads and parses it."""

    class CheckedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tar):  # tarfile's documented hook: "can be overridden in a subclass"
            if self.type in EXTENDED_HEADERS:
                budget.add_header(self.size)
            return super()._proc_member(tar)  # type: ignore[misc]  # not in typeshed

    return CheckedTarInfo


def _read_zip(data: bytes, budget: Budget) -> tuple[list[TreeFile], str | None]:
    entries, most = _zip_entries(data), 2 * budget.limits.max_files + 1000
    if entries > most:
        raise SnapshotError(f"the zip lists {entries} entries, more than the {most} files and folders a tree "
                            "within the limits can have.")
    files = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            path = _clean_path(info.filename)
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            kind = stat.S_IFMT(mode)
            if stat.S_ISLNK(mode):
                raise SnapshotError(f"the archive has a symlink ({path!r}); a snapshot takes regular files only.")
            if info.is_dir() or stat.S_ISDIR(mode):
                continue
            if kind not in (0, stat.S_IFREG):
                raise SnapshotError(f"the archive has a device, fifo or other special file ({path!r}); "
                                    "a snapshot takes regular files only.")
            if info.flag_bits & 0x1:
                raise SnapshotError(f"the archive has an encrypted entry ({path!r}).")
            budget.add(path, info.file_size)
            with archive.open(info) as content:
                files.append(TreeFile(path, bool(mode & 0o111), _read_exactly(content, info.file_size, path)))
        comment = archive.comment.decode("ascii", "replace").strip()
    return files, comment if COMMIT_ID.match(comment) else None


def _zip_entries(data: bytes) -> int:
    """The entry count of the zip's end-of-central-directory record, found as zipfile finds it (the last
    one within a comment's reach of the end), read before zipfile builds an object per entry; zip64's
    0xFFFF means at least that many. 0 when there is none (zipfile then refuses the zip)."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 65535))
    return int.from_bytes(data[at + 10:at + 12], "little") if at >= 0 else 0


def _read_exactly(content: _Readable, size: int, path: str) -> bytes:
    """The member's content in chunks, refused when it is longer or shorter than its header says."""
    chunks, read = [], 0
    while chunk := content.read(min(CHUNK, size + 1 - read)):
        read += len(chunk)
        if read > size:
            raise SnapshotError(f"the archive entry {path!r} holds more than the {size} bytes its header declares.")
        chunks.append(chunk)
    if read != size:
        raise SnapshotError(f"the archive entry {path!r} holds {read} bytes, not the {size} its header declares.")
    return b"".join(chunks)


def _strip_top_folder(files: list[TreeFile]) -> list[TreeFile]:
    tops = {file.path.split("/", 1)[0] for file in files}
    if len(tops) > 1 or any("/" not in file.path for file in files):
        raise SnapshotError("the archive does not hold its tree under one top-level folder, as this source's do.")
    return [TreeFile(file.path.split("/", 1)[1], file.executable, file.data) for file in files]


def _checked(files: list[TreeFile]) -> tuple[TreeFile, ...]:
    """The files sorted by path, refused when a path repeats or is both a file and a folder."""
    paths: set[str] = set()
    for file in files:
        if file.path in paths:
            raise SnapshotError(f"the archive has the path {file.path!r} twice.")
        paths.add(file.path)
    folders = {folder for path in paths for folder in _parents(path)}
    both = sorted(paths & folders)
    if both:
        raise SnapshotError(f"the archive has {both[0]!r} both as a file and as a folder.")
    return tuple(sorted(files, key=lambda f: f.path))


def _parents(path: str) -> Iterator[str]:
    parts = path.split("/")
    for end in range(1, len(parts)):
        yield "/".join(parts[:end])
