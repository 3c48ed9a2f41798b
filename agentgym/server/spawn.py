"""Running `agentgym serve` as a child process: for the demo, the trainer and tests that want
the environment in its own process, as in production."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

__all__ = ["ServerProcess"]


class ServerProcess:
    """`agentgym serve ENV_IDS --port 0` in a subprocess, logging (as text) to `log_path`.

    `start()` returns once the server printed its URL (`self.url`, `http://127.0.0.1:PORT`),
    waiting at most `start_timeout_s`; the rest of its stdout is drained into the log, so a chatty
    environment never blocks on a full pipe. `stop()` sends SIGTERM (a graceful drain) and
    returns the exit code, killing the process if it has not exited within `timeout_s`.
    `returncode` is None while it runs. Also a context manager.

    Raises (from `start`):
        RuntimeError: the server exited, printed no URL, or printed none in time; the message
            names its log.
    """

    def __init__(
        self, env_ids: list[str], log_path: str | Path, *, extra_args: list[str] | None = None, start_timeout_s: float = 60.0
    ):
        self.env_ids = list(env_ids)
        self.start_timeout_s = start_timeout_s
        self.log_path = Path(log_path)
        self.extra_args = list(extra_args or [])
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> str:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "agentgym.cli", "serve", *self.env_ids, "--port", "0", "--log-format", "text"]
        self.log_path.write_text("")  # then both the child's stderr and the drained stdout append
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(command + self.extra_args, stdout=subprocess.PIPE, stderr=log, text=True)
        first_line: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._drain, args=(first_line,), daemon=True).start()
        try:
            line = first_line.get(timeout=self.start_timeout_s)
        except queue.Empty:
            line = f"nothing within {self.start_timeout_s:.0f} s"
        match = re.search(r"(http://\S+)", line)
        if not match:
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"the server did not start (it printed {line!r}); its log is {self.log_path}")
        self.url = match.group(1)
        return self.url

    def _drain(self, first_line: queue.Queue[str]) -> None:
        """Hand over the first stdout line, then append the rest to the log until EOF."""
        assert self.process is not None and self.process.stdout is not None
        first_line.put(self.process.stdout.readline())
        with self.log_path.open("a") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
