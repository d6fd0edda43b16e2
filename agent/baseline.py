"""The owner's baseline: states accepted as consented, so they are not reported as findings.

Entries mirror what detection asks the evidence (``kind``, ``key``, ``value``): a runtime grant
(``permission_granted``, the permission, ``true``), an app-op mode (``appop_changed``,
``uid:OP`` or ``package:OP``, the mode), an install (``package_installed``). Accepting an event
accepts exactly what it reported; accepting a package or a device accepts its current state as
the last snapshot shows it.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.model import PER_USER_RANGE, app_id_of
from agent.store import BaselineEntry, Store, StoreError


def _entry_for_event(store: Store, event_id: str) -> BaselineEntry:
    event = store.event(event_id)
    if event is None:
        raise StoreError(f"no event {event_id!r} in the store (see 'tetherguard events --json')")
    d = event.detail
    if event.kind in ("permission_granted", "permission_revoked"):
        key, value = str(d.get("permission")), "true" if event.kind.endswith("granted") else "false"
        kind = "permission_granted" if value == "true" else "permission_revoked"
    elif event.kind == "appop_changed":
        kind, key, value = event.kind, f"{d.get('scope')}:{d.get('op')}", str(d.get("mode"))
    else:
        kind, key, value = event.kind, "", ""
    return BaselineEntry(
        serial=event.serial,
        kind=kind,
        key=key,
        value=value,
        user=event.user,
        package=event.package,
        source_event_id=event.id,
    )


def accept_event(store: Store, event_id: str) -> int:
    return store.accept([_entry_for_event(store, event_id)])


def accept_snapshot(store: Store, *, serial: str | None, package: str | None) -> int:
    """Accept the current state of every package (or one) on every device (or one)."""
    serials = [serial] if serial else [d.serial for d in store.devices()]
    entries: list[BaselineEntry] = []
    for s in serials:
        snap = store.load_snapshot(s)
        if snap is None:
            continue
        for pkg in snap.packages.packages:
            if package is not None and pkg.name != package:
                continue
            for state in pkg.users:
                if not state.installed:
                    continue
                user = state.user
                entries.append(BaselineEntry(s, "package_installed", "", "", user, pkg.name))
                for grant in snap.runtime_grants(pkg, user):
                    if grant.granted:
                        entries.append(
                            BaselineEntry(
                                s, "permission_granted", grant.name, "true", user, pkg.name
                            )
                        )
                uid = None if pkg.uid is None else user * PER_USER_RANGE + app_id_of(pkg.uid)
                for block in snap.appops.uids:
                    if block.uid != uid:
                        continue
                    for op, mode in block.modes.items():
                        entries.append(
                            BaselineEntry(s, "appop_changed", f"uid:{op}", mode, user, pkg.name)
                        )
                    for entry in block.packages.get(pkg.name, ()):
                        entries.append(
                            BaselineEntry(
                                s,
                                "appop_changed",
                                f"package:{entry.op}",
                                entry.mode,
                                user,
                                pkg.name,
                            )
                        )
    if package is not None and not entries:
        raise StoreError(f"no stored snapshot shows {package!r}; run 'tetherguard watch --once'")
    return store.accept(entries)


def show(store: Store, *, serial: str | None = None) -> Iterator[str]:
    for e in store.baseline(serial):
        who = e.package or "(device)"
        user = "all users" if e.user is None else f"user {e.user}"
        yield f"{e.serial}  {who}  {user}  {e.kind} {e.key} = {e.value}"
