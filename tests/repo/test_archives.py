"""Reading archives safely and writing the canonical one: every refusal, the bombs, the same bytes from any form."""

from __future__ import annotations

import gzip
import io
import random
import stat
import tarfile
import time
import tracemalloc
import warnings
import zipfile

import pytest

from shared.repo.archives import SnapshotError, SnapshotLimits, TreeFile, canonical_archive, read_tree, tar_bytes

MB = 1024 * 1024
FILES = {"train.py": (b"print('train')\n", False), "scripts/run.sh": (b"#!/bin/sh\n", True), "data/x.csv": (b"a,b\n", False)}
SHA = "0123456789abcdef0123456789abcdef01234567"


def entry(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, mode: int = 0o644,
          linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, len(data) if kind == tarfile.REGTYPE else 0, linkname
    return info, data


def tar(*entries: tuple[tarfile.TarInfo, bytes], gzipped: bool = True, pax: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, pax_headers=pax or {}) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return gzip.compress(out.getvalue()) if gzipped else out.getvalue()


def zipped(*entries: tuple[str, bytes, int], comment: bytes = b"") -> bytes:
    """A zip of (name, data, unix mode) entries; mode 0 leaves the entry without unix attributes."""
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate names a hostile zip is built with
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode:
                info.create_system, info.external_attr = 3, mode << 16
            archive.writestr(info, data)
        archive.comment = comment
    return out.getvalue()


def tree_files(files=FILES) -> dict[str, tuple[bytes, bool]]:
    return {path: (data, executable) for path, (data, executable) in files.items()}


def as_dict(files: tuple[TreeFile, ...]) -> dict[str, tuple[bytes, bool]]:
    return {f.path: (f.data, f.executable) for f in files}


LIMITS = SnapshotLimits()


def test_tar_gzip_tar_and_zip_of_one_tree_give_the_same_files_and_the_same_canonical_bytes():
    members = [entry(p, d, mode=0o775 if x else 0o664) for p, (d, x) in FILES.items()]
    forms = {
        "tar": tar(*members, gzipped=False),
        "tar.gz": tar(entry("scripts", kind=tarfile.DIRTYPE, mode=0o775), *members),
        "zip": zipped(*[(p, d, stat.S_IFREG | (0o755 if x else 0o644)) for p, (d, x) in FILES.items()]),
    }
    trees = {form: read_tree(data, LIMITS, strip_top_folder=False) for form, data in forms.items()}
    for tree in trees.values():
        assert as_dict(tree.files) == tree_files()
        assert [f.path for f in tree.files] == sorted(FILES)
    assert len({canonical_archive(tree.files) for tree in trees.values()}) == 1


def test_the_canonical_archive_has_fixed_metadata_and_does_not_depend_on_order():
    files = [TreeFile(p, x, d) for p, (d, x) in FILES.items()]
    data = canonical_archive(files)
    assert data == canonical_archive(random.Random(7).sample(files, len(files)))
    assert data[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = archive.getmembers()
        assert archive.pax_headers == {}
    assert [m.name for m in members] == sorted(FILES)
    for m in members:
        assert m.isreg() and (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
        assert m.mode == (0o755 if FILES[m.name][1] else 0o644)


def test_a_pax_comment_or_zip_comment_with_a_commit_id_is_the_declared_commit():
    assert read_tree(tar(entry("a", b"1"), pax={"comment": SHA}), LIMITS, strip_top_folder=False).commit == SHA
    assert read_tree(zipped(("a", b"1", 0), comment=SHA.encode()), LIMITS, strip_top_folder=False).commit == SHA
    assert read_tree(tar_bytes([TreeFile("a", False, b"1")], gzipped=False, comment=SHA), LIMITS,
                     strip_top_folder=False).commit == SHA
    assert read_tree(tar(entry("a", b"1"), pax={"comment": "made by hand"}), LIMITS, strip_top_folder=False).commit is None
    assert read_tree(tar(entry("a", b"1")), LIMITS, strip_top_folder=False).commit is None


def test_one_top_level_folder_is_stripped_when_the_source_wraps_its_tree():
    data = tar(entry("acme-ml-0123456/", kind=tarfile.DIRTYPE), entry("acme-ml-0123456/train.py", b"x"),
               entry("acme-ml-0123456/src/a.py", b"y"))
    tree = read_tree(data, LIMITS, strip_top_folder=True)
    assert [f.path for f in tree.files] == ["src/a.py", "train.py"]
    assert [f.path for f in read_tree(data, LIMITS, strip_top_folder=False).files] == [
        "acme-ml-0123456/src/a.py", "acme-ml-0123456/train.py"]


@pytest.mark.parametrize("data", [
    tar(entry("one/a.py", b"x"), entry("two/b.py", b"y")),
    tar(entry("one/a.py", b"x"), entry("b.py", b"y")),
], ids=["two top folders", "a file at the root"])
def test_a_wrapped_tree_must_sit_under_one_folder(data: bytes):
    with pytest.raises(SnapshotError, match="one top-level folder"):
        read_tree(data, LIMITS, strip_top_folder=True)


HOSTILE_TARS = {
    "absolute path": (tar(entry("/etc/cron.d/evil", b"x")), "absolute path"),
    "dot-dot segment": (tar(entry("src/../../evil.py", b"x")), "'..' segment"),
    "backslash": (tar(entry("src\\..\\evil.py", b"x")), "backslash"),
    "symlink": (tar(entry("link", kind=tarfile.SYMTYPE, linkname="/etc/passwd")), "symlink"),
    "hard link": (tar(entry("a", b"x"), entry("b", kind=tarfile.LNKTYPE, linkname="a")), "hard link"),
    "character device": (tar(entry("dev/null", kind=tarfile.CHRTYPE)), "device, fifo"),
    "block device": (tar(entry("dev/sda", kind=tarfile.BLKTYPE)), "device, fifo"),
    "fifo": (tar(entry("pipe", kind=tarfile.FIFOTYPE)), "device, fifo"),
    "duplicate path": (tar(entry("train.py", b"good"), entry("./train.py", b"evil")), "twice"),
    "file and folder": (tar(entry("src", b"x"), entry("src/a.py", b"y")), "both as a file and as a folder"),
    "not an archive": (b"just some bytes, long enough to not be anything" * 10, "neither a tar"),
    "truncated gzip": (tar(entry("a", b"x" * 5000))[:40], "cannot be read"),
}


@pytest.mark.parametrize("name", HOSTILE_TARS)
def test_hostile_tars_are_refused(name: str):
    data, reason = HOSTILE_TARS[name]
    with pytest.raises(SnapshotError, match=reason):
        read_tree(data, LIMITS, strip_top_folder=False)


HOSTILE_ZIPS = {
    "dot-dot segment": (zipped(("../evil.py", b"x", 0)), "'..' segment"),
    "absolute path": (zipped(("/evil.py", b"x", 0)), "absolute path"),
    "symlink": (zipped(("link", b"/etc/passwd", stat.S_IFLNK | 0o777)), "symlink"),
    "fifo": (zipped(("pipe", b"", stat.S_IFIFO | 0o644)), "device, fifo"),
    "duplicate path": (zipped(("a.py", b"x", 0), ("a.py", b"y", 0)), "twice"),
}


@pytest.mark.parametrize("name", HOSTILE_ZIPS)
def test_hostile_zips_are_refused(name: str):
    data, reason = HOSTILE_ZIPS[name]
    with pytest.raises(SnapshotError, match=reason):
        read_tree(data, LIMITS, strip_top_folder=False)


def test_an_encrypted_zip_entry_is_refused():
    data = bytearray(zipped(("secret.py", b"x", 0)))
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local header, central directory
        at = data.index(signature)
        data[at + flag_offset] |= 0x1
    with pytest.raises(SnapshotError, match="encrypted"):
        read_tree(bytes(data), LIMITS, strip_top_folder=False)


def test_more_files_than_the_limit_are_refused():
    data = tar(*[entry(f"f{i}.py", b"x") for i in range(4)])
    assert len(read_tree(data, SnapshotLimits(max_files=4), strip_top_folder=False).files) == 4
    with pytest.raises(SnapshotError, match="more than 3 files"):
        read_tree(data, SnapshotLimits(max_files=3), strip_top_folder=False)


def test_a_zip_listing_more_entries_than_a_tree_within_the_limits_is_refused():
    data = zipped(*[(f"d{i}/", b"", 0) for i in range(1100)])
    assert len(read_tree(data, SnapshotLimits(max_files=50), strip_top_folder=False).files) == 0
    with pytest.raises(SnapshotError, match="the zip lists 1100 entries, more than the 1080"):
        read_tree(data, SnapshotLimits(max_files=40), strip_top_folder=False)


def test_more_bytes_than_the_limit_are_refused():
    data = tar(entry("a.bin", b"a" * (600 * 1024)), entry("b.bin", b"b" * (600 * 1024)))
    with pytest.raises(SnapshotError, match=f"more than {MB} bytes"):
        read_tree(data, SnapshotLimits(max_bytes=MB), strip_top_folder=False)


def _peak_while_refused(data: bytes, limits: SnapshotLimits, reason: str) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(SnapshotError, match=reason):
            read_tree(data, limits, strip_top_folder=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_gzip_bomb_is_refused_without_being_expanded():
    bomb = tar(entry("zeros.bin", bytes(10 * MB)))
    assert len(bomb) < 64 * 1024  # 10 MB of zeros compress to a few KB
    assert _peak_while_refused(bomb, SnapshotLimits(max_bytes=MB), "more than") < 2 * MB


def test_a_zip_bomb_is_refused_without_being_expanded():
    bomb = zipped(("zeros.bin", bytes(10 * MB), 0))
    assert len(bomb) < 64 * 1024
    assert _peak_while_refused(bomb, SnapshotLimits(max_bytes=MB), "more than") < 2 * MB


def test_a_huge_extended_header_is_refused_before_tarfile_parses_it():
    """tarfile's pax parser is quadratic on such headers before Python 3.11.10 (CVE-2024-6232): parsing this
    128 KiB one takes 15 s or more there (a 40 MB one, days), so the header is refused before it is parsed."""
    bomb = tar(entry("a.py", b"x"), pax={"comment": "0" * (128 * 1024)})
    assert len(bomb) < 16 * 1024
    started = time.monotonic()
    assert _peak_while_refused(bomb, LIMITS, "extended header of 131088 bytes") < MB
    assert time.monotonic() - started < 1


def test_many_extended_headers_past_the_limit_are_refused():
    long_paths = [entry(f"{i:04}/" + "x" * 2000, b"") for i in range(600)]  # a pax header each, 2 KB
    limits = SnapshotLimits(max_files=1000)  # 1 MiB of extended headers
    assert len(read_tree(tar(*long_paths[:400]), limits, strip_top_folder=False).files) == 400
    with pytest.raises(SnapshotError, match="extended headers hold more than 1048576 bytes"):
        read_tree(tar(*long_paths), limits, strip_top_folder=False)


def test_a_stream_that_expands_past_what_the_limits_can_hold_is_refused():
    """Folder entries are neither files nor extended headers: the count of the inflated stream stops them."""
    folders = tar(*[entry(f"d{i:05}", kind=tarfile.DIRTYPE) for i in range(6000)])
    assert len(folders) < 256 * 1024
    limits = SnapshotLimits(max_bytes=MB, max_files=10)
    assert _peak_while_refused(folders, limits, f"expands past {limits.max_archive_bytes} bytes") < 2 * MB
