"""`RolloutEngine`: decoupled rollout workers that keep N episodes in flight and hand finished
groups to a trainer through a bounded queue, while they go on playing.

The shape (DART's decoupled rollout service, AReaL-style bounded staleness):

    task source --> groups of G episodes --(N episodes in flight)--> finished Group queue --> trainer
                         ^ policy.generate per turn, env.step per turn, no batch barrier

Each episode runs as soon as a slot is free and finishes at its own pace: a slow environment
step delays its own episode only, never a whole batch (the lockstep loop of verl-agent / RAGEN
waits for the slowest environment every turn; `agentgym.rollout.lockstep`).

Staleness: every turn records the policy version that sampled it. The consumer says which
version is current (`get(current_version=...)`, default `policy.version`); a group whose
oldest turn is older than `current - max_staleness` is dropped and counted, never returned.

Faults: an environment that raises, times out or loses its server fails its own episode
(`Trajectory.status == "failed"`, `failure` says why); the others go on. Failed episodes are
counted in `stats` and stay in their group's `failed` list; a trainer uses `group.completed`.
A group with fewer than `min_completed` completed episodes is dropped and counted. An error of
the policy or of the engine itself is not an environment fault: it stops production, and the
next `get()` raises `RolloutError` from it.

Lifecycle: `async with RolloutEngine(...) as engine:` starts the workers and, on exit, stops
them, closes every environment still open and the environment source (its pool, connections).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from agentgym.policies.base import Policy, SamplingParams
from agentgym.rollout.envs import EnvSource, LocalEnvs
from agentgym.rollout.episode import EpisodeLimits, failure_kind
from agentgym.rollout.groups import GroupPlayer
from agentgym.rollout.prompts import PromptBuilder
from agentgym.rollout.types import Group, Task

_END = object()
"""Queue sentinel: no more groups will come."""


class RolloutFinished(Exception):
    """`get()` after the last group: the task source is exhausted (or the engine was stopped)
    and every finished group has been handed out or dropped."""


class RolloutError(RuntimeError):
    """A rollout worker failed for a reason that is not an environment fault (the policy
    raised, a bug); production stopped. The original error is the `__cause__`."""


@dataclass
class RolloutStats:
    """Counters of one engine's run (read them at any time).

    groups_produced: groups put in the queue. groups_consumed: groups handed to the consumer.
    groups_dropped_stale: taken from the queue but older than `max_staleness` allows.
    groups_dropped_incomplete: finished with fewer than `min_completed` completed episodes.
    groups_discarded: still queued when the engine was stopped.
    episodes_completed / episodes_failed: by status, over every finished group.
    failures: failed episodes by failure kind; failure_examples: the latest failure per kind.
    truncations: completed-and-truncated episodes by `Trajectory.truncation`.
    turns / env_seconds: policy turns played and seconds spent in `env.step`, over finished groups.
    peak_in_flight: the most episodes that held a slot at once.
    """

    tasks_started: int = 0
    groups_produced: int = 0
    groups_consumed: int = 0
    groups_dropped_stale: int = 0
    groups_dropped_incomplete: int = 0
    groups_discarded: int = 0
    episodes_completed: int = 0
    episodes_failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    failure_examples: dict[str, str] = field(default_factory=dict)
    truncations: Counter[str] = field(default_factory=Counter)
    turns: int = 0
    env_seconds: float = 0.0
    in_flight: int = 0
    peak_in_flight: int = 0

    def record(self, group: Group) -> None:
        """Count the episodes of a finished group (a branched group's shared prefix once)."""
        branched = [t for t in group.trajectories if t.branch_turn is not None]
        if branched:
            self.turns += branched[0].branch_turn or 0
            self.env_seconds += sum(turn.env_latency_s for turn in branched[0].turns[: branched[0].branch_turn])
        for trajectory in group.trajectories:
            self.turns += len(trajectory.turns) - (trajectory.branch_turn or 0)
            self.env_seconds += sum(turn.env_latency_s for turn in trajectory.turns[trajectory.branch_turn or 0 :])
            if trajectory.status == "failed":
                kind = failure_kind(trajectory.failure) or "unknown"
                self.episodes_failed += 1
                self.failures[kind] += 1
                self.failure_examples[kind] = trajectory.failure or ""
            else:
                self.episodes_completed += 1
                if trajectory.truncation is not None:
                    self.truncations[trajectory.truncation] += 1

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for logs and metrics)."""
        values = dict(self.__dict__)
        for name in ("failures", "truncations"):
            values[name] = dict(values[name])
        values["failure_examples"] = dict(self.failure_examples)
        return values


class _Slots:
    """A semaphore of episode slots that counts how many are held (for stats)."""

    def __init__(self, size: int, stats: RolloutStats):
        self._semaphore = asyncio.Semaphore(size)
        self._stats = stats

    async def __aenter__(self) -> None:
        await self._semaphore.acquire()
        self._stats.in_flight += 1
        self._stats.peak_in_flight = max(self._stats.peak_in_flight, self._stats.in_flight)

    async def __aexit__(self, *exc_info: object) -> None:
        self._stats.in_flight -= 1
        self._semaphore.release()


class RolloutEngine:
    """Plays groups of episodes concurrently and queues the finished groups for a trainer.

    Args:
        policy: samples every response; its `version` is recorded per turn.
        tasks: the task source, an iterable or async iterable of `Task` (finite or endless);
            one group is played per task, in order of start.
        envs: the environment source (default `LocalEnvs()`: `agentgym.make` in process;
            `RemoteEnvs(urls)` for servers). The engine closes it when it stops.
        prompts: the prompt builder (default: `PromptBuilder(policy.tokenizer)`, full history).
        group_size: G, episodes per task.
        max_in_flight: N, episodes played at once (each holds one environment).
        queue_size: finished groups waiting for the consumer at most; when the queue is full
            the workers stop taking new tasks (at most `queue_size + max_in_flight` tasks are
            taken and not yet consumed).
        max_staleness: consumed groups were sampled by versions >= current - max_staleness
            (None: no bound).
        min_completed: groups with fewer completed episodes are dropped (and counted).
        branch_at: branch each group at this turn (see `agentgym.rollout.groups`); None: G
            independent episodes.
        limits / sampling: per-episode limits and sampling parameters.
    """

    def __init__(
        self,
        policy: Policy,
        tasks: Iterable[Task] | AsyncIterable[Task],
        *,
        envs: EnvSource | None = None,
        prompts: PromptBuilder | None = None,
        group_size: int = 8,
        max_in_flight: int = 64,
        queue_size: int = 16,
        max_staleness: int | None = None,
        min_completed: int = 1,
        branch_at: int | None = None,
        limits: EpisodeLimits | None = None,
        sampling: SamplingParams | None = None,
    ):
        if group_size < 1 or max_in_flight < 1 or queue_size < 1:
            raise ValueError("group_size, max_in_flight and queue_size must be at least 1")
        if max_staleness is not None and max_staleness < 0:
            raise ValueError(f"max_staleness must be None or >= 0, got {max_staleness}")
        if not 0 <= min_completed <= group_size:
            raise ValueError(f"min_completed must be in [0, group_size], got {min_completed}")
        self.policy = policy
        self.envs = envs if envs is not None else LocalEnvs()
        self.group_size = group_size
        self.max_in_flight = max_in_flight
        self.queue_size = queue_size
        self.max_staleness = max_staleness
        self.min_completed = min_completed
        self.branch_at = branch_at
        self.stats = RolloutStats()
        self._tasks = tasks
        self._player = GroupPlayer(
            policy,
            self.envs,
            prompts or PromptBuilder(policy.tokenizer),
            limits=limits,
            sampling=sampling,
            slots=_Slots(max_in_flight, self.stats),
        )
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)
        self._tickets = asyncio.Semaphore(queue_size + max_in_flight)
        self._producer: asyncio.Task[None] | None = None
        self._groups: set[asyncio.Task[None]] = set()
        self._cancelled: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None
        self._done = False  # no more groups will be queued
        self._stopped = False

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the workers (once)."""
        if self._stopped:
            raise RuntimeError("this engine was stopped; make a new one")
        if self._producer is None:
            self._producer = asyncio.create_task(self._produce(), name="rollout-producer")

    async def stop(self) -> None:
        """Stop the workers, close every open environment and the environment source. Groups
        still queued are discarded (counted); later `get()` calls raise `RolloutFinished`."""
        if self._stopped:
            return
        self._stopped = True
        await self._cancel_workers()
        while not self._queue.empty():
            if self._queue.get_nowait() is not _END:
                self.stats.groups_discarded += 1
        self._done = True
        self._queue.put_nowait(_END)
        await self.envs.close()

    async def __aenter__(self) -> RolloutEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def done(self) -> bool:
        """No group will be queued any more (the ones queued may still be taken)."""
        return self._done

    # --- consuming ----------------------------------------------------------------------

    async def get(self, current_version: int | None = None) -> Group:
        """The next finished group sampled within the staleness bound of `current_version`
        (default: `policy.version`); older groups are dropped and counted on the way.

        Raises:
            RolloutFinished: no group will come any more.
            RolloutError: production stopped on an error that is not an environment fault.
        """
        if self._producer is None and not self._stopped:
            await self.start()
        while True:
            if self._error is not None:
                raise RolloutError(f"rollout production failed: {self._error!r}") from self._error
            if self._stopped or (self._done and self._queue.empty()):
                raise RolloutFinished("no more groups: the task source is exhausted or the engine stopped")
            item = await self._queue.get()
            if item is _END:  # always behind the last group
                self._queue.put_nowait(_END)  # for the other waiting consumers
                if self._error is not None:
                    continue  # raised above
                raise RolloutFinished("no more groups: the task source is exhausted or the engine stopped")
            self._tickets.release()
            version = self.policy.version if current_version is None else current_version
            if self.is_stale(item, version):
                self.stats.groups_dropped_stale += 1
                continue
            self.stats.groups_consumed += 1
            return item

    async def get_batch(self, size: int, current_version: int | None = None) -> list[Group]:
        """`size` groups (fewer only when the rollout finished; empty when it had finished)."""
        batch: list[Group] = []
        with contextlib.suppress(RolloutFinished):
            while len(batch) < size:
                batch.append(await self.get(current_version))
        return batch

    async def __aiter__(self) -> AsyncIterator[Group]:
        """Every group, until the rollout finishes (the current version is `policy.version`)."""
        while True:
            try:
                yield await self.get()
            except RolloutFinished:
                return

    def is_stale(self, group: Group, current_version: int) -> bool:
        """True when `group`'s oldest turn was sampled by a version older than
        `current_version - max_staleness` (never, without a bound or without turns)."""
        if self.max_staleness is None:
            return False
        versions = [turn.policy_version for t in group.trajectories for turn in t.turns]
        return bool(versions) and min(versions) < current_version - self.max_staleness

    # --- producing ----------------------------------------------------------------------

    async def _produce(self) -> None:
        stream = self._task_stream()
        try:
            async for task in stream:
                group = asyncio.create_task(self._run_group(task), name=f"rollout-group-{self.stats.tasks_started}")
                self.stats.tasks_started += 1
                self._groups.add(group)
                group.add_done_callback(self._group_done)
            while self._groups:
                await asyncio.wait(set(self._groups))
        except Exception as error:  # the task source failed, or yielded something else
            self._set_error(error)
        finally:
            self._finish()
            await stream.aclose()

    async def _task_stream(self) -> AsyncGenerator[Task, None]:
        """The tasks, each taken only once a ticket is free (so a full queue stops intake)."""
        if isinstance(self._tasks, AsyncIterable):
            iterator: Any = aiter(self._tasks)

            async def take() -> Task:
                return await anext(iterator)
        else:
            sync_iterator = iter(self._tasks)

            async def take() -> Task:
                try:
                    return next(sync_iterator)
                except StopIteration:
                    raise StopAsyncIteration from None

        while True:
            await self._tickets.acquire()
            try:
                task = await take()
            except StopAsyncIteration:
                self._tickets.release()
                return
            except BaseException:
                self._tickets.release()
                raise
            if not isinstance(task, Task):
                self._tickets.release()
                raise TypeError(f"the task source yielded {type(task).__name__}, not a Task")
            yield task

    async def _run_group(self, task: Task) -> None:
        queued = False
        try:
            group = await self._player.play_group(task, self.group_size, branch_at=self.branch_at)
            self.stats.record(group)
            if len(group.completed) < self.min_completed:
                self.stats.groups_dropped_incomplete += 1
                return
            await self._queue.put(group)
            queued = True
            self.stats.groups_produced += 1
        finally:
            if not queued:
                self._tickets.release()

    def _group_done(self, group: asyncio.Task[None]) -> None:
        self._groups.discard(group)
        if group.cancelled():
            return
        error = group.exception()
        if error is not None:
            self._set_error(error)

    def _set_error(self, error: BaseException) -> None:
        """Stop production on a worker's error (the first one is kept for the consumer)."""
        if self._error is not None:
            return
        self._error = error
        if self._producer is not None and self._producer is not asyncio.current_task():
            self._cancel(self._producer)  # stops intake; its `finally` wakes the consumers
        for other in self._groups:
            self._cancel(other)

    def _cancel(self, task: asyncio.Task[None]) -> None:
        """Cancel `task` once: a second cancellation could interrupt the cleanup (closing
        environments) that the first one started."""
        if task not in self._cancelled:
            self._cancelled.add(task)
            task.cancel()

    def _finish(self) -> None:
        self._done = True
        if not self._queue.full():  # else no consumer is waiting: the next get() sees `_done`
            self._queue.put_nowait(_END)

    async def _cancel_workers(self) -> None:
        tasks = [task for task in (self._producer, *self._groups) if task is not None and not task.done()]
        for task in tasks:
            self._cancel(task)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._producer is not None:
            await asyncio.gather(self._producer, return_exceptions=True)
