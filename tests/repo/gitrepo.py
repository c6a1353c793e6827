"""Real git repositories for the tests, made with the git CLI in temporary folders."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Data Scientist",
    "GIT_AUTHOR_EMAIL": "ds@example.com",
    "GIT_COMMITTER_NAME": "Data Scientist",
    "GIT_COMMITTER_EMAIL": "ds@example.com",
    "GIT_TERMINAL_PROMPT": "0",
}


class GitRepo:
    """A working repository; `commit` writes files and commits them, returning the commit id."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "commit.gpgsign", "false")

    def git_bytes(self, *args: str) -> bytes:
        result = subprocess.run(["git", *args], cwd=self.path, env={**os.environ, **ENV}, capture_output=True,
                                timeout=60)
        if result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.decode()}")
        return result.stdout

    def git(self, *args: str) -> str:
        return self.git_bytes(*args).decode().strip()

    def commit(self, message: str, files: Mapping[str, str | bytes | None], executable: Iterable[str] = ()) -> str:
        """Write (or, for None, delete) the files, mark `executable` ones +x, commit everything."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        for name in executable:
            (self.path / name).chmod(0o755)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.rev("HEAD")

    def rev(self, ref: str) -> str:
        return self.git("rev-parse", "--verify", f"{ref}^{{commit}}")

    def archive(self, commit: str, fmt: str, prefix: str | None = None) -> bytes:
        return self.git_bytes("archive", f"--format={fmt}", *([f"--prefix={prefix}"] if prefix else []), commit)

    def changed(self, before: str, after: str) -> tuple[str, ...]:
        """`git diff --name-only` of the two commits (a rename as both paths)."""
        return tuple(sorted(self.git("diff", "--name-only", "--no-renames", before, after).splitlines()))

    def tree(self, commit: str) -> dict[str, tuple[bytes, bool]]:
        """Every file of the commit: path -> (content, executable), read with the git CLI."""
        files = {}
        for line in self.git("ls-tree", "-r", "-z", commit).split("\0"):
            if line:
                meta, path = line.split("\t", 1)
                mode, _, sha = meta.split()
                files[path] = (self.git_bytes("cat-file", "blob", sha), mode == "100755")
        return files
