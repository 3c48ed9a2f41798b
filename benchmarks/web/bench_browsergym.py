"""BrowserGym's MiniWoB environments measured like bench_web.py measures ours (run by it).

Run under an interpreter that has `browsergym-miniwob` (it pins its own Playwright, 1.44, so
keep it in a separate virtual environment). BrowserGym expects Playwright's downloaded Chromium;
`playwright install` cannot run offline, so `BrowserType.launch` is wrapped to default
`executable_path` to the system Chromium ($AGENTGYM_CHROMIUM or /usr/bin/chromium). Its
environments are synchronous (sync Playwright, one browser per environment, relaunched on every
reset), so N concurrent environments are N processes. Each prints one JSON row per (task, N).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time

CHROMIUM = os.environ.get("AGENTGYM_CHROMIUM", "/usr/bin/chromium")
MIB = 1024 * 1024


def _patch_launch() -> None:
    from playwright.sync_api import BrowserType

    original = BrowserType.launch

    def launch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("executable_path", CHROMIUM)
        return original(self, *args, **kwargs)

    BrowserType.launch = launch  # type: ignore[method-assign]


def _descendant_memory(root: int) -> tuple[int, int]:
    """(PSS, RSS) in bytes of every descendant process of `root`."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(name))
    pss = rss = 0
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/comm") as f:
                if "chrom" not in f.read():  # Chromium only, as bench_web.py counts (not Playwright's driver)
                    continue
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
        except OSError:
            pass
    return pss, rss


def worker(task: str, index: int, resets: int, steps: int, delay: float | None, barrier, out) -> None:  # type: ignore[no-untyped-def]
    import miniwob

    os.environ.setdefault(
        "MINIWOB_URL", "file://" + os.path.join(os.path.dirname(miniwob.__file__), "html", "miniwob") + "/"
    )
    _patch_launch()
    import browsergym.miniwob  # noqa: F401  (registers the tasks)
    import gymnasium as gym

    kwargs = {} if delay is None else {"pre_observation_delay": delay}
    env = gym.make(f"browsergym/miniwob.{task}", **kwargs)
    env.reset(seed=999_999 - index)  # warm-up, untimed, as in bench_web.py
    barrier.wait()
    start = time.perf_counter()
    for r in range(resets):
        env.reset(seed=1000 * index + r)
    reset_time = time.perf_counter() - start
    pss, rss = _descendant_memory(os.getpid())
    barrier.wait()
    busy, seed = 0.0, 5000 + index
    env.reset(seed=seed)
    for _ in range(steps):
        t = time.perf_counter()
        _, _, terminated, truncated, _ = env.step("noop()")
        busy += time.perf_counter() - t
        if terminated or truncated:
            seed += 1
            env.reset(seed=seed)
    env.close()
    out.put((reset_time, busy, pss, rss))


def measure(task: str, n: int, resets: int, steps: int, delay: float | None = None) -> dict:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(task, i, resets, steps, delay, barrier, out)) for i in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    reset_wall = max(r[0] for r in results)
    mean_busy = sum(r[1] for r in results) / n
    return {
        "system": "BrowserGym",
        "env": f"miniwob/{task}-v0",
        "n": n,
        "resets_per_s": n * resets / reset_wall,
        "noop_steps_per_s": n * steps / mean_busy,
        "pss_mib_per_session": sum(r[2] for r in results) / MIB / n,
        "rss_mib_per_session": sum(r[3] for r in results) / MIB / n,
        "notes": [
            "sync env per process; browser relaunched each reset; pre_observation_delay "
            + ("0.5 s (default)" if delay is None else f"{delay:g} s")
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["click-button", "enter-text"])
    parser.add_argument("--n", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--resets", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--pre-observation-delay", type=float, default=None, help="default: BrowserGym's (0.5 s)")
    args = parser.parse_args()
    for task in args.tasks:
        for n in args.n:
            row = measure(task, n, args.resets, args.steps, args.pre_observation_delay)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
