"""Byte plumbing of the Docker backend, kept free of the Docker SDK so it is testable without an
engine: tar archives for `put_archive`/`get_archive` with the work directory's path rules, the
shell check that refuses paths through symlinks, and the reader of an exec's multiplexed
stdout/stderr stream (https://docs.docker.com/engine/api/v1.43/#tag/Container/operation/ContainerAttach).
"""

from __future__ import annotations

import io
import shlex
import struct
import tarfile
import time
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

from agentgym.sandboxes.base import relative_path

STREAM_STDOUT = 1
STREAM_STDERR = 2
_HEADER = struct.Struct(">BxxxL")


def pack(files: Mapping[str, bytes], *, uid: int, gid: int, mode: int = 0o644) -> bytes:
    """A tar archive of `files` (relative path inside the work directory -> bytes), to extract at
    the work directory: every path normalised by `relative_path` (InvalidPath otherwise), its
    parent folders listed first (mode 0755), everything owned by `uid`:`gid`, no links."""
    buffer = io.BytesIO()
    now = time.time()
    folders: set[PurePosixPath] = set()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in files.items():
            pure = relative_path(path)
            for parent in reversed(pure.parents[:-1]):  # outermost first, "." excluded
                if parent not in folders:
                    folders.add(parent)
                    archive.addfile(_info(str(parent), tarfile.DIRTYPE, 0o755, 0, uid, gid, now))
            archive.addfile(_info(str(pure), tarfile.REGTYPE, mode, len(data), uid, gid, now), io.BytesIO(data))
    return buffer.getvalue()


def _info(name: str, kind: bytes, mode: int, size: int, uid: int, gid: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.uid, info.gid, info.mtime = kind, mode, size, uid, gid, mtime
    return info


def unpack_file(archive: bytes, path: str, max_bytes: int) -> bytes | None:
    """The content of `path` from the archive `get_archive` returned for it: exactly one member,
    a regular file named like the path's last part, at most `max_bytes` long; None otherwise
    (a folder, a symlink, a device, anything unexpected)."""
    name = relative_path(path).name
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            members = tar.getmembers()
            if len(members) != 1:
                return None
            member = members[0]
            if not member.isreg() or member.name != name or member.size > max_bytes:
                return None
            handle = tar.extractfile(member)
            return handle.read() if handle is not None else None
    except (tarfile.TarError, EOFError):
        return None


def check_paths_script(paths: Iterable[str], work_dir: str = "/work") -> str:
    """A POSIX shell script that prints `bad <path>` for every path whose folders inside
    `work_dir` include a symlink or a non-folder, `link <path>` when the path itself is a symlink,
    and `file <path>` when it is a regular file. Run inside the container while nothing else of
    the session runs, it tells which transfers are safe."""
    lines = []
    for path in paths:
        pure = relative_path(path)
        quoted = shlex.quote(path)
        target = shlex.quote(f"{work_dir}/{pure}")
        checks = [
            f"{{ [ -L {d} ] || {{ [ -e {d} ] && [ ! -d {d} ]; }}; }}"
            for d in (shlex.quote(f"{work_dir}/{parent}") for parent in reversed(pure.parents[:-1]))
        ]
        if checks:
            lines.append(f"if {' || '.join(checks)}; then echo bad {quoted}; fi")
        lines.append(f"if [ -L {target} ]; then echo link {quoted}; elif [ -f {target} ]; then echo file {quoted}; fi")
    return "\n".join(lines) + "\ntrue\n"


def parse_check(output: str) -> dict[str, str]:
    """The report of `check_paths_script`: path -> "bad", "link" or "file" (the first word wins
    when a path got two lines; "bad" beats the others)."""
    report: dict[str, str] = {}
    for line in output.splitlines():
        kind, _, path = line.partition(" ")
        if kind in ("bad", "link", "file") and path and report.get(path) != "bad":
            report[path] = kind
    return report


class FrameReader:
    """Splits Docker's multiplexed stream (8-byte header: stream type, 3 zero bytes, big-endian
    length; then the payload) into (stream, bytes) pieces, whatever the chunking of the input."""

    def __init__(self):
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= _HEADER.size:
            stream, size = _HEADER.unpack_from(self._buffer)
            if len(self._buffer) < _HEADER.size + size:
                break
            frames.append((stream, bytes(self._buffer[_HEADER.size : _HEADER.size + size])))
            del self._buffer[: _HEADER.size + size]
        return frames


def frame(stream: int, payload: bytes) -> bytes:
    """One frame of the multiplexed stream (for tests)."""
    return _HEADER.pack(stream, len(payload)) + payload
