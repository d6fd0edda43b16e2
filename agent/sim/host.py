"""Run simulated devices from synchronous code (pytest, the CLI's demo mode).

Owns one asyncio loop in a daemon thread that hosts any number of :class:`AdbDeviceServer`.
Callers stay synchronous: every method blocks until the loop has done the work, so when ``add``
returns the device is listening and ``adb connect`` can follow at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from agent.sim.shell import Shell
from agent.sim.transport import AdbDeviceServer

if TYPE_CHECKING:
    from agent.sim.device import SimDevice

__all__ = ["SimHost"]

T = TypeVar("T")


class SimHost:
    """An event loop in a daemon thread hosting many simulated devices."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._devices: list[AdbDeviceServer] = []

    def __enter__(self) -> SimHost:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def devices(self) -> list[AdbDeviceServer]:
        return list(self._devices)

    def start(self) -> None:
        if self._thread is not None:
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=self._main, args=(loop,), name="tetherguard-sim", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Unplug every device, then stop the loop and its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self.run(self._stop_all())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            self._loop = self._thread = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._running_loop()).result()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start a coroutine on the loop and return at once; the future has its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._running_loop())

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the loop thread and return its value; devices are not thread-safe."""
        loop = self._running_loop()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def invoke() -> None:
            try:
                future.set_result(fn())
            except BaseException as e:  # handed to the caller's thread
                future.set_exception(e)

        loop.call_soon_threadsafe(invoke)
        return future.result()

    def add(self, shell: Shell, **server_kwargs: Any) -> AdbDeviceServer:
        """Create and start a device; returns once it is listening."""

        async def create() -> AdbDeviceServer:
            device = AdbDeviceServer(shell, **server_kwargs)
            await device.start()
            return device

        device = self.run(create())
        self._devices.append(device)
        return device

    def plug(self, device: SimDevice) -> SimDevice:
        """Give a simulated phone its adb port on this host; returns it, listening."""
        device.server = self.add(device.shell, **device.server_kwargs())
        return device

    def stop(self, device: AdbDeviceServer) -> None:
        """Unplug ``device`` (it can be plugged back in with ``host.run(device.start())``)."""
        self.run(device.stop())

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("SimHost is not started")
        if threading.current_thread() is self._thread:
            raise RuntimeError("SimHost methods block; they cannot be called from its own loop")
        return self._loop

    async def _stop_all(self) -> None:
        await asyncio.gather(*(d.stop() for d in self._devices), return_exceptions=True)

    @staticmethod
    def _main(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
