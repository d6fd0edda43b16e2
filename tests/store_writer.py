"""Child process of the kill -9 test in test_store.py: writes to a store until it is killed.

Usage: ``python -m tests.store_writer DB SEED``. Prints ``ready`` once the store is open, then
after each *committed* write one line naming what it wrote (``events id id ...``, ``audit N``,
``snapshot TAKEN_AT``), flushed at once. A line is printed only after the write returned, so
every line the parent reads is a promise that the write is durable. Lines stay far below
PIPE_BUF, so each reaches the pipe whole or not at all. Exits by itself after 20 s (a parent
that failed to kill it must not leave it running).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from agent.events import Consent, Event, Severity
from agent.model import AppOpsDump, DeviceProps, PackageDump, PackageInfo, User, frozen_map
from agent.snapshot import Snapshot
from agent.store import Store


def main() -> None:
    path, seed = Path(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    deadline = time.monotonic() + 20
    with Store.open(path) as store:
        print("ready", flush=True)
        batch = 0
        while time.monotonic() < deadline:
            batch += 1
            events = [
                Event(
                    kind="permission_granted",
                    serial=f"SIM{seed}",
                    ts=time.time(),
                    consent=Consent.NONE,
                    severity=Severity.HIGH,
                    user=0,
                    package=f"com.example.app{rng.randrange(1000)}",
                    detail={"permission": "android.permission.CAMERA", "batch": batch},
                )
                for _ in range(rng.randint(1, 40))
            ]
            store.record_events(events)
            print("events", *(e.id for e in events), flush=True)
            if batch % 5 == 0:
                audit_id = store.audit_begin("test", f"SIM{seed}", 0, "revoke", {"batch": batch})
                store.audit_finish(audit_id, "done", {"ok": True})
                print("audit", audit_id, flush=True)
            if batch % 7 == 0:
                snap = Snapshot(
                    serial=f"SIM{seed}",
                    taken_at=float(batch),
                    props=DeviceProps(frozen_map({"ro.build.version.sdk": "35"})),
                    users=(User(0, "Owner"),),
                    packages=PackageDump(
                        packages=tuple(
                            PackageInfo(f"com.example.app{i}", uid=10_000 + i) for i in range(200)
                        )
                    ),
                    appops=AppOpsDump(),
                )
                store.save_snapshot(snap)
                print("snapshot", batch, flush=True)


if __name__ == "__main__":
    main()
