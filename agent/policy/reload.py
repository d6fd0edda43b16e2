"""Live reload of a policy file (watchdog): an edit takes effect without a restart, and a broken
edit keeps the last good policy running and says why.

Editors save in many ways (write in place, write a temporary file and rename it over, delete and
recreate), so the directory is watched and any event that touches the file's name triggers a
reload; reloads are debounced (a save is often several events) and the file is only read once it
parses: a half-written file is reported as broken, then the next event reloads it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from agent.policy.model import Policy

log = logging.getLogger(__name__)


class PolicyWatcher(FileSystemEventHandler):
    """Reloads ``path`` with ``load`` whenever it changes.

    Args:
        path: the policy file.
        load: reads and validates it (raises on a broken file).
        on_load: called with each good policy (on the watcher's thread).
        on_error: called with the message of each broken one; the last good policy stays.
        debounce_s: events closer than this are one save.
    """

    def __init__(
        self,
        path: Path,
        load: Callable[[Path], Policy],
        on_load: Callable[[Policy], None],
        on_error: Callable[[str], None],
        *,
        debounce_s: float = 0.2,
    ) -> None:
        super().__init__()
        self.path = path.resolve()
        self._load = load
        self._on_load = on_load
        self._on_error = on_error
        self._debounce = debounce_s
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self.reloads = 0
        """Good reloads so far."""
        self.errors = 0
        """Broken versions seen so far."""

    def start(self) -> PolicyWatcher:
        observer = Observer()
        observer.schedule(self, str(self.path.parent), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer
        return self

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        observer = self._observer
        if observer is not None:
            observer.stop()
            observer.join(5)

    def __enter__(self) -> PolicyWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if not any(p and Path(str(p)).resolve() == self.path for p in paths):
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._debounce, self.reload)
            self._timer.daemon = True
            self._timer.start()

    def reload(self) -> None:
        """Read the file now; the good policy goes to ``on_load``, a broken one to
        ``on_error``."""
        if not self.path.exists():
            return  # deleted (or mid-rename): the next event brings it back
        try:
            policy = self._load(self.path)
        except Exception as exc:  # any failure to load keeps the last good policy
            self.errors += 1
            message = f"{exc} (the previous version stays in force)"
            log.warning("policy: %s", message)
            self._on_error(message)
            return
        self.reloads += 1
        log.info("policy: reloaded %s (%d rules)", policy.name, len(policy.rules))
        self._on_load(policy)
