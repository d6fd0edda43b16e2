"""``tetherguard scan``: one snapshot of each connected device, as a table or as JSON.

Devices are read in parallel (each is independent; the adb server multiplexes them). A device
that fails (unauthorized, offline, gone mid-scan) becomes an entry in ``errors`` and the others
still complete. The table escapes every device string: labels and names are hostile data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.adb import AdbClient, AdbError
from agent.collect import Collector
from agent.labels import LabelCache
from agent.model import SENSITIVE_PERMISSIONS
from agent.report import scan_document, static_findings
from agent.snapshot import Snapshot
from agent.textsafe import printable


def scan_devices(
    client: AdbClient,
    serials: Sequence[str] | None = None,
    users: Sequence[int] | None = None,
    *,
    progress: Progress | None = None,
    labels: LabelCache | None = None,
    fetch_labels: bool = False,
) -> tuple[list[Snapshot], list[tuple[str, str]]]:
    """Snapshots of the online devices (all, or ``serials``), and (serial, message) errors."""
    infos = client.devices()
    known = {i.serial: i for i in infos}
    targets = list(serials) if serials else [i.serial for i in infos]
    errors: list[tuple[str, str]] = []
    readable = []
    for serial in targets:
        info = known.get(serial)
        if info is None:
            errors.append((serial, "not attached to the adb server"))
        elif not info.online:
            hint = (
                " (accept the 'Allow USB debugging?' prompt on the phone)"
                if (info.state == "unauthorized")
                else ""
            )
            errors.append((serial, f"device is {info.state}{hint}"))
        else:
            readable.append(serial)

    def read(serial: str) -> Snapshot | tuple[str, str]:
        task = progress.add_task(serial, total=None) if progress is not None else None

        def step(text: str) -> None:
            if progress is not None and task is not None:
                progress.update(task, description=f"{printable(serial, 40)}: {text}")

        try:
            collector = Collector(
                client.link(serial), progress=step, labels=labels, fetch_labels=fetch_labels
            )
            return collector.full(users)
        except AdbError as exc:
            return (serial, str(exc))
        finally:
            if progress is not None and task is not None:
                progress.remove_task(task)

    snaps: list[Snapshot] = []
    if readable:
        with ThreadPoolExecutor(max_workers=min(8, len(readable))) as pool:
            for outcome in pool.map(read, readable):
                if isinstance(outcome, Snapshot):
                    snaps.append(outcome)
                else:
                    errors.append(outcome)
    return snaps, errors


def _table(snap: Snapshot) -> Table:
    props = snap.props
    title = (
        f"{escape(printable(snap.serial, 64))}  {escape(printable(props.model, 40))}  "
        f"Android {escape(printable(props.release, 10))} (API {props.sdk})"
    )
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("package")
    if snap.labels:
        table.add_column("label")
    table.add_column("user", justify="right")
    table.add_column("installer")
    table.add_column("sensitive grants")
    table.add_column("findings", style="bold red")
    findings: dict[tuple[str, int], list[str]] = {}
    for f in static_findings(snap):
        findings.setdefault((f.package, f.user), []).append(f.kind.replace("_", " "))
    for pkg in sorted(snap.packages.packages, key=lambda p: (p.system, p.name)):
        for user in (u.id for u in snap.users):
            state = pkg.user(user)
            if state is None or not state.installed:
                continue
            grants = sorted(
                {
                    SENSITIVE_PERMISSIONS[g.name]
                    for g in snap.runtime_grants(pkg, user)
                    if g.granted and g.name in SENSITIVE_PERMISSIONS
                }
            )
            notes = findings.get((pkg.name, user), [])
            if pkg.system and not notes:
                continue  # system apps hold platform grants by design; show them when flagged
            label = [escape(printable(snap.labels.get(pkg.name, ""), 40))] if snap.labels else []
            table.add_row(
                escape(printable(pkg.name, 80)) + (" [dim](system)[/]" if pkg.system else ""),
                *label,
                str(user),
                escape(printable(pkg.installer or "-", 60)),
                escape(", ".join(grants)),
                escape(", ".join(notes)),
            )
    return table


def run_scan(
    client: AdbClient,
    *,
    serials: Sequence[str],
    users: Sequence[int] | None,
    as_json: bool,
    out: TextIO,
    labels: LabelCache | None = None,
    fetch_labels: bool = False,
) -> int:
    """The command: returns 0 when every device was read, 3 otherwise."""
    err = Console(stderr=True)
    targets = serials or None
    if as_json or not err.is_terminal:
        snaps, errors = scan_devices(
            client, targets, users, labels=labels, fetch_labels=fetch_labels
        )
    else:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:
            snaps, errors = scan_devices(
                client, targets, users, progress=progress, labels=labels, fetch_labels=fetch_labels
            )
    if as_json:
        doc: dict[str, Any] = scan_document(snaps, errors)
        json.dump(doc, out, indent=2, ensure_ascii=True)
        out.write("\n")
    else:
        console = Console(file=out, highlight=False, soft_wrap=False)
        for snap in snaps:
            console.print(_table(snap))
            if snap.warnings:
                console.print(f"[yellow]{len(snap.warnings)} parse warning(s); see --json[/]")
        for serial, message in errors:
            err.print(f"[red]{escape(printable(serial, 64))}: {escape(printable(message))}[/]")
        if not snaps and not errors:
            err.print("no devices attached (try 'tetherguard demo' for a simulated fleet)")
    return 3 if errors else 0


__all__ = ["run_scan", "scan_devices"]
