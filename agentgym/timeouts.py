"""`with_timeout`: await with a deadline, cheaply."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def with_timeout(awaitable: Awaitable[T], seconds: float) -> T:
    """`await awaitable`, raising `asyncio.TimeoutError` after `seconds` (and cancelling it).

    On Python 3.11+ this runs in the caller's task (`asyncio.timeout`); `asyncio.wait_for`
    creates a task and a timer per call, which is most of the cost of a served step.
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)
