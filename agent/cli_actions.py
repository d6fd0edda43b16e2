"""The action commands of the CLI: ``revoke``, ``grant``, ``appop``, ``restrict``,
``unrestrict``, ``force-stop``, ``disable``, ``enable``, ``uninstall``, ``restore``,
``remove-admin``, ``undo`` and ``audit``.

Each asks before it changes a phone (unless ``--yes``; with no terminal to ask on, it refuses),
prints what it did and the state read back, and exits 0 when done, 5 when the phone refused or
the change did not hold, 2 for a refusal of ours (protected package, bad arguments).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from typing import Any

from agent.actions import Action, ActionError, Actions, Outcome
from agent.adb import AdbClient, DeviceLink
from agent.textsafe import printable

REFUSED_BY_PHONE = 5
"""Exit code: the phone refused the action, or the change did not hold."""

_SIMPLE = {
    "restrict": "stop background running: background-run app op ignored, restricted bucket",
    "unrestrict": "allow background running again",
    "force-stop": "stop the app's processes now",
    "disable": "disable the app for the user (it stays installed)",
    "enable": "enable the app for the user",
    "uninstall": "uninstall the app for the user, keeping its data (undo: restore)",
    "restore": "bring back an app uninstalled or disabled for the user",
    "remove-admin": "deactivate the app's device admin (Android allows it for test admins only)",
}


def add_parsers(sub: Any) -> None:
    """Register the action commands on the CLI's subparsers."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--serial", help="the phone (needed when several are attached)")
        p.add_argument("--user", type=int, default=0, help="Android user id (default 0)")
        p.add_argument("--dry-run", action="store_true", help="say what would run; change nothing")
        p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        p.add_argument(
            "--force", action="store_true", help="also act on a protected system package"
        )
        p.add_argument("--store", type=_path, help="the database (default: the data directory)")
        p.set_defaults(func=cmd_action)

    for verb in ("revoke", "grant"):
        p = sub.add_parser(verb, help=f"{verb} a runtime permission (and keep it so)")
        p.add_argument("package")
        p.add_argument("permission", help="e.g. RECORD_AUDIO or android.permission.CAMERA")
        common(p)
    p = sub.add_parser("appop", help="set an app op's mode for a package")
    p.add_argument("package")
    p.add_argument("op", help="e.g. CAMERA, RUN_ANY_IN_BACKGROUND")
    p.add_argument("mode", choices=["allow", "ignore", "deny", "default", "foreground"])
    common(p)
    for verb, text in _SIMPLE.items():
        p = sub.add_parser(verb, help=text)
        p.add_argument("package")
        if verb == "uninstall":
            p.add_argument(
                "--full",
                action="store_true",
                help="remove it for every user with its data (user apps; cannot be undone)",
            )
        common(p)
    p = sub.add_parser("undo", help="put back what an action changed (its id: tetherguard audit)")
    p.add_argument("action_id", type=int)
    common(p)
    p = sub.add_parser("capabilities", help="which actions work on a phone (vendor blocks ...)")
    p.add_argument("--serial", help="the phone (needed when several are attached)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_capabilities)
    p = sub.add_parser("audit", help="list the actions taken, newest last")
    p.add_argument("--serial", help="only this phone")
    p.add_argument("--since", type=float, help="only the last this many hours")
    p.add_argument("--json", action="store_true", help="one JSON object per action")
    p.add_argument("--store", type=_path, help="the database (default: the data directory)")
    p.set_defaults(func=cmd_audit)


def _store_path(args: argparse.Namespace) -> Any:
    """``--store``, else ``[store] path`` of tetherguard.toml, else the default."""
    if args.store is not None:
        return args.store
    from agent.config import ConfigError, load_config

    try:
        return load_config().store.path
    except ConfigError:
        return None  # the store still opens; `watch` reports the configuration error


def _path(text: str) -> Any:
    from pathlib import Path

    return Path(text).expanduser()


def _action(args: argparse.Namespace) -> Action:
    kind = args.command.replace("-", "_")
    return Action(
        kind,
        args.package,
        args.user,
        permission=getattr(args, "permission", None),
        op=getattr(args, "op", None),
        mode=getattr(args, "mode", None),
        keep_data=not getattr(args, "full", False),
    )


def _pick_device(client: AdbClient, wanted: str | None) -> tuple[DeviceLink, int] | str:
    online = [d for d in client.devices(details=True) if d.online]
    if wanted is not None:
        online = [d for d in online if d.serial == wanted]
        if not online:
            return f"{printable(wanted)} is not online (see: tetherguard devices)"
    if not online:
        return "no phone is online (see: tetherguard devices)"
    if len(online) > 1:
        return "several phones are online: name one with --serial"
    info = online[0]
    return client.link(info.serial), info.sdk or 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _show(outcome: Outcome) -> None:
    stream = sys.stdout if outcome.ok else sys.stderr
    print(printable(outcome.message), file=stream)
    for command in outcome.commands if outcome.status == "dry-run" else ():
        print(f"  $ adb shell {printable(command)}", file=stream)
    if outcome.after:
        shown = ", ".join(f"{k}={printable(str(v))}" for k, v in outcome.after.items())
        print(f"  read back: {shown}", file=stream)
    if outcome.audit_id is not None:
        print(
            f"  action {outcome.audit_id} (undo: tetherguard undo {outcome.audit_id})"
            if outcome.status == "done"
            else f"  action {outcome.audit_id}",
            file=stream,
        )
    if outcome.hint:
        print(f"  try: {printable(outcome.hint)}", file=stream)


def cmd_action(args: argparse.Namespace) -> int:
    from agent.store import Store

    client = AdbClient()
    picked = _pick_device(client, args.serial)
    if isinstance(picked, str):
        print(f"tetherguard: {picked}", file=sys.stderr)
        return 3
    link, sdk = picked
    with Store.open(_store_path(args)) as store:
        actions = Actions(
            link,
            store,
            actor=f"cli:{getpass.getuser()}",
            sdk=sdk,
        )
        try:
            if args.command == "undo":
                preview = actions.undo(args.action_id, dry_run=True, force=args.force)
            else:
                preview = actions.run(_action(args), dry_run=True, force=args.force)
        except ActionError as exc:
            print(f"tetherguard: {printable(str(exc))}", file=sys.stderr)
            return 2
        if args.dry_run or preview.status != "dry-run":
            _show(preview)
            return 0 if preview.ok else 2
        question = (
            f"{printable(preview.message.removeprefix('would '))} on {printable(link.serial)}?"
        )
        if not args.yes and not _confirm(question[:1].upper() + question[1:]):
            print(
                "tetherguard: not confirmed; nothing changed (add --yes to skip the question)",
                file=sys.stderr,
            )
            return 2
        if args.command == "undo":
            outcome = actions.undo(args.action_id, force=args.force)
        else:
            outcome = actions.run(_action(args), force=args.force)
    _show(outcome)
    if outcome.status == "refused":
        return 2
    return 0 if outcome.ok else REFUSED_BY_PHONE


def cmd_audit(args: argparse.Namespace) -> int:
    from agent.store import Store

    since = time.time() - args.since * 3600 if args.since is not None else None
    with Store.open(_store_path(args)) as store:
        records = store.audit(since=since, serial=args.serial)
    for r in records:
        target = r.target if isinstance(r.target, dict) else {}
        if args.json:
            print(
                json.dumps(
                    {
                        "id": r.id,
                        "ts": r.ts,
                        "actor": r.actor,
                        "serial": r.serial,
                        "user": r.user,
                        "action": r.action,
                        "status": r.status,
                        "target": target,
                        "result": r.result,
                    }
                ),
                flush=True,
            )
            continue
        what = " ".join(
            printable(str(target[k]))
            for k in ("package", "permission", "op", "mode")
            if target.get(k)
        )
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.ts))
        print(
            f"{r.id:>5} {stamp} {printable(r.serial)} u{r.user} {r.action:<12} "
            f"{r.status:<7} {what}  by {printable(r.actor)}"
        )
    return 0


def cmd_capabilities(args: argparse.Namespace) -> int:
    picked = _pick_device(AdbClient(), args.serial)
    if isinstance(picked, str):
        print(f"tetherguard: {picked}", file=sys.stderr)
        return 3
    link, sdk = picked
    caps = Actions(link, None, actor="cli", sdk=sdk).capabilities()
    if args.json:
        doc = {
            k.replace("_", "-"): {"available": c.available, "note": c.note} for k, c in caps.items()
        }
        print(json.dumps({"serial": link.serial, "sdk": sdk, "actions": doc}))
        return 0
    for kind, cap in caps.items():
        mark = "yes" if cap.available else "no "
        note = f"  ({printable(cap.note)})" if cap.note else ""
        print(f"{mark} {kind.replace('_', '-')}{note}")
    return 0
