"""A watch of many phones frees dumps in many threads: the memory must go back to the system."""

from __future__ import annotations

import threading

import psutil
import pytest

from agent import memory


def _churn(latest: list[object]) -> None:
    """What a phone's threads do: big dumps and many small strings, read and dropped, the
    latest kept (a phone's newest snapshot; it pins the memory below it in the arena)."""
    kept: list[tuple[bytes, list[str]]] = []
    for i in range(400):
        kept.append((bytes(200_000 + i), [str(j) * 50 for j in range(200)]))
        if i % 3:
            kept.pop(0)
    latest.append(kept[-1][1])


@pytest.mark.skipif(not memory.can_give_back(), reason="not glibc: nothing to trim on demand")
def test_memory_freed_by_many_threads_goes_back_to_the_system() -> None:
    me = psutil.Process()
    before = me.memory_info().rss
    latest: list[object] = []
    threads = [threading.Thread(target=_churn, args=(latest,)) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slack = me.memory_info().rss - before  # all of it freed already, yet still ours
    assert slack > 10 * 2**20, "the churn left nothing to give back: the test proves nothing"
    assert memory.give_back()
    kept = me.memory_info().rss - before
    assert kept < slack / 2, f"{slack / 2**20:.0f} MB freed, {kept / 2**20:.0f} MB still held"
