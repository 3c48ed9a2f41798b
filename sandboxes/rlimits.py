"""The launch prelude shared by the host-process backends: a POSIX shell that joins the run's
control groups and sets its rlimits, then execs the sandbox, so that no process of the run ever
exists outside its limits (a process cannot be moved into a group or limited before it starts
in any portable way from Python without a pre-exec hook, which is unsafe in threaded programs).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence

from agentgym.sandboxes.cgroups import RunCgroup
from agentgym.sandboxes.types import Limits

SHELL = "/bin/sh"


def limited_argv(
    argv: Sequence[str], limits: Limits, cgroup: RunCgroup | None, *, process_ceiling: int | None
) -> list[str]:
    """`argv` run under `limits`: CPU seconds (SIGXCPU at the limit, SIGKILL a second later),
    the largest file, no core dumps; and, without a control group, address space and (when
    `process_ceiling` is given) RLIMIT_NPROC as the memory and process ceilings."""
    cpu = max(1, math.ceil(limits.cpu_s))
    lines = [f"echo $$ > {shlex.quote(str(path))} || exit 125" for path in (cgroup.procs_files if cgroup else [])]
    lines += [
        f"ulimit -t {cpu + 1}",
        f"ulimit -S -t {cpu}",
        f"ulimit -f {math.ceil(limits.max_file_bytes / 512)}",
        "ulimit -c 0",
    ]
    if cgroup is None:
        lines.append(f"ulimit -v {limits.memory_mb * 1024}")
        if process_ceiling is not None:
            lines.append(f"ulimit -p {process_ceiling}")
    lines.append('exec "$@"')
    return [SHELL, "-c", " && ".join(lines), "sandbox-limits", *argv]
