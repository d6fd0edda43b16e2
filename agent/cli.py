"""The ``tetherguard`` command line: a contract of subcommands, exit codes and clean stdout.

stdout carries data (tables, JSON); stderr carries diagnostics. Errors are one clear line
unless ``--debug``. Heavy imports (the simulator, later Textual) happen inside the command
that needs them, so ``tetherguard devices`` starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any

from agent import __version__
from agent.adb import AdbClient, AdbError
from agent.present import devices_table
from agent.textsafe import printable


class ExitCode(IntEnum):
    """Documented in README.md; scripts rely on these."""

    OK = 0
    FINDINGS = 1
    USAGE = 2
    DEVICE = 3
    STORE = 4
    INTERRUPTED = 130


def cmd_devices(args: argparse.Namespace) -> int:
    client = AdbClient()
    if args.watch:
        for event in client.track(poll_interval=args.poll):
            record = {
                "time": round(time.time(), 3),
                "serial": event.serial,
                "event": event.kind,
                "state": event.state,
                "previous": event.previous,
            }
            print(json.dumps(record), flush=True)
        return ExitCode.OK
    infos = client.devices(details=True)
    if args.json:
        json.dump([i.as_dict() for i in infos], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        devices_table(infos, sys.stdout)
        if not infos:
            print(
                "no devices attached (try 'tetherguard demo' for a simulated fleet)",
                file=sys.stderr,
            )
    return ExitCode.OK


def cmd_connect(args: argparse.Namespace) -> int:
    print(printable(AdbClient().connect(args.address)))
    return ExitCode.OK


def cmd_disconnect(args: argparse.Namespace) -> int:
    print(printable(AdbClient().disconnect(args.address)))
    return ExitCode.OK


def cmd_scan(args: argparse.Namespace) -> int:
    from agent.labels import LabelCache
    from agent.paths import cache_dir
    from agent.scan import run_scan  # deferred: rich and the parsers load only here

    return run_scan(
        AdbClient(),
        serials=args.serial,
        users=args.user or None,
        as_json=args.json,
        out=sys.stdout,
        labels=LabelCache(cache_dir() / "labels"),
        fetch_labels=args.labels,
    )


def _since(text: str | None) -> float | None:
    """``30s``, ``15m``, ``2h``, ``7d`` ago, or an epoch time; None for no bound."""
    if not text:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text[-1] in units:
            return time.time() - float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise SystemExit(f"tetherguard: not a duration: {text!r} (use 30s, 15m, 2h, 7d)") from None


def _event_line(event: Any) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
    detail = ", ".join(
        f"{k}={v}"
        for k, v in event.detail.items()
        if k not in ("event", "host") and v not in (None, [])
    )
    host = event.detail.get("host")
    if isinstance(host, list) and host and isinstance(host[0], dict):
        # The program on this computer seen driving adb then (agent.hostwatch).
        detail += f", via={' '.join(str(a) for a in host[0].get('cmdline') or [])[:120]}"
    who = f"{event.package or '-'}" + (f" (user {event.user})" if event.user is not None else "")
    mark = "!" if event.finding else " "
    return printable(
        f"{stamp} {mark} {event.serial}  {event.kind:<22} {who}  consent={event.consent.value}"
        f" severity={event.severity.value}  {detail}",
        400,
    )


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def cmd_watch(args: argparse.Namespace) -> int:
    from agent.cli_fleet import fleet_url
    from agent.config import ConfigError, load_config
    from agent.engine import Engine
    from agent.hostwatch import HostWatcher
    from agent.labels import LabelCache
    from agent.paths import cache_dir, data_dir
    from agent.store import Store

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"tetherguard: config: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    alerts = config.alerts
    found_findings = False
    store_arg = args.store or ""
    fleet = fleet_url(args.fleet) or (store_arg if store_arg.startswith("postgresql:") else None)
    path = Path(store_arg) if store_arg and not store_arg.startswith("postgresql:") else None
    path = path or config.store.path
    client = AdbClient()
    with Store.open(path, retention_days=config.store.retention_days) as store:
        engine = Engine(
            client,
            store,
            interval=args.interval,
            sweep_every=args.full_read_every,
            serials=args.serial or None,
            labels=LabelCache(cache_dir() / "labels"),
            live=not args.no_live,
            use_period=args.use_period,
            host=None if args.no_host else HostWatcher(port=client.address.port),
        )

        def show(event: Any) -> None:
            nonlocal found_findings
            found_findings = found_findings or event.finding
            print(event.to_json() if args.jsonl else _event_line(event), flush=True)

        engine.subscribe(show)
        with contextlib.ExitStack() as alerting:
            if fleet:
                from agent.fleet import FleetSink

                sink = FleetSink(
                    fleet, data_dir() / "outbox.db", store=store, policy=args.policy
                ).start()
                alerting.callback(sink.close)  # ships what it can; the rest waits on disk
                engine.subscribe(sink)
            if args.policy is not None:
                from agent.policy.load import PolicyError

                try:
                    _enforce(alerting, engine, args.policy, config.devices.labels_of)
                except PolicyError as exc:
                    for line in str(exc).splitlines():
                        print(f"tetherguard: policy: {printable(line)}", file=sys.stderr)
                    return ExitCode.USAGE
            if alerts.enabled:  # deferred: apprise loads only when alerts are on
                from agent.alerts import Alerter

                # Entered before the engine runs, so it is closed (its queue drained) after.
                alerter = alerting.enter_context(Alerter(alerts, store, client=engine.client))
                engine.subscribe(alerter)
            _run_engine(engine, args)
        for problem in engine.errors:
            print(f"tetherguard: {printable(problem)}", file=sys.stderr)
    if engine.errors and args.once:
        return ExitCode.DEVICE
    return ExitCode.FINDINGS if found_findings else ExitCode.OK


def _enforce(
    stack: contextlib.ExitStack, engine: Any, name: str, labels_of: Callable[[str], Any]
) -> None:
    """``watch --policy``: apply a policy to the events, and reload it when its file changes."""
    from agent.policy.enforce import Enforced, Enforcer
    from agent.policy.load import load_policy, resolve_policy
    from agent.policy.reload import PolicyWatcher

    path = resolve_policy(name)
    policy = load_policy(path)

    def report(done: Enforced) -> None:
        line = done.decision.describe()
        if done.outcome is not None:
            line = f"{done.decision.policy}/{done.decision.rule.name}: {done.outcome.message}"
        if done.drift:
            line += " (drift: it had been undone before)"
        if done.error:
            line += f" ({done.error})"
        print(f"tetherguard: policy: {printable(line)}", file=sys.stderr, flush=True)

    enforcer = Enforcer(policy, engine.actions, report=report, labels_of=labels_of).start()
    stack.callback(enforcer.close)
    engine.subscribe(enforcer)
    print(
        f"tetherguard: policy {printable(policy.name)} ({len(policy.rules)} rules, {policy.mode})",
        file=sys.stderr,
    )

    def broken(message: str) -> None:
        print(f"tetherguard: policy: {printable(message)}", file=sys.stderr, flush=True)

    def reloaded(new: Any) -> None:
        enforcer.set_policy(new)
        print(
            f"tetherguard: policy reloaded: {printable(new.name)} ({len(new.rules)} rules, "
            f"{new.mode})",
            file=sys.stderr,
            flush=True,
        )

    watcher = PolicyWatcher(path, load_policy, reloaded, broken).start()
    stack.callback(watcher.stop)


def _run_engine(engine: Any, args: argparse.Namespace) -> None:
    """``watch``'s loop: once, for ``--duration``, or until Ctrl-C."""
    if args.once:
        engine.once()
        return
    engine.start()
    if not args.jsonl:
        print("watching; Ctrl-C stops", file=sys.stderr)
    try:
        if args.duration is not None:
            time.sleep(args.duration)
        else:
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        engine.stop()


def cmd_alerts(args: argparse.Namespace) -> int:
    from agent.alerts import send_test
    from agent.config import ConfigError, load_config

    try:
        alerts = load_config(args.config).alerts
    except ConfigError as exc:
        print(f"tetherguard: config: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    # Never starts an adb server just for a test: phones are tried only if one is running.
    client = AdbClient(start_server=False) if alerts.on_device and not args.no_device else None
    if not alerts.targets and client is None:
        print(
            "tetherguard alerts test: no alert target configured ([alerts] urls in "
            "tetherguard.toml, or TETHERGUARD_APPRISE_URLS)",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    results = send_test(alerts, client)
    for result in results:
        line = f"{result.status.upper():<8} {result.target}"
        print(printable(f"{line}: {result.detail}" if result.detail else line, 400))
    return ExitCode.DEVICE if any(r.status == "failed" for r in results) else ExitCode.OK


def cmd_events(args: argparse.Namespace) -> int:
    from agent.store import Store

    with Store.open(args.store) as store:
        for event in store.events(
            since=_since(args.since),
            serial=args.serial,
            package=args.package,
            kind=args.kind,
            limit=args.limit,
        ):
            print(event.to_json() if args.json else _event_line(event))
    return ExitCode.OK


def cmd_baseline(args: argparse.Namespace) -> int:
    from agent.baseline import accept_event, accept_snapshot, show
    from agent.store import Store

    with Store.open(args.store) as store:
        if args.action == "show":
            for line in show(store, serial=args.serial):
                print(printable(line, 400))
            return ExitCode.OK
        if args.event:
            count = accept_event(store, args.event)
        elif args.package or args.all:
            count = accept_snapshot(store, serial=args.serial, package=args.package)
        else:
            print(
                "tetherguard baseline accept: give --all, --package P or --event ID",
                file=sys.stderr,
            )
            return ExitCode.USAGE
        print(f"accepted {count} entr{'y' if count == 1 else 'ies'} into the baseline")
    return ExitCode.OK


def cmd_demo(args: argparse.Namespace) -> int:
    if not 1 <= args.devices <= 200:
        print("tetherguard demo: --devices must be between 1 and 200", file=sys.stderr)
        return ExitCode.USAGE
    from agent.demo import run_demo  # deferred: pulls in the simulator

    return run_demo(devices=args.devices, stay=args.stay, out=sys.stdout)


def cmd_sim(args: argparse.Namespace) -> int:
    from agent.sim.scenario import ScenarioError, expectations_text, list_scenarios, load_scenario
    from agent.simfleet import SimFleet

    if args.list_scenarios:
        print(expectations_text(list_scenarios()))
        return ExitCode.OK
    if not 1 <= args.devices <= 500:
        print("tetherguard sim: --devices must be between 1 and 500", file=sys.stderr)
        return ExitCode.USAGE
    try:
        scenarios = [load_scenario(name) for name in args.scenario]
    except ScenarioError as exc:
        print(f"tetherguard sim: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    client = AdbClient() if args.connect else None
    with SimFleet(client) as fleet:
        fleet.start(
            args.devices,
            android=args.android,
            seed=args.seed,
            work_profile=args.work_profile or any(s.needs_work_profile for s in scenarios),
        )
        if client is not None:
            fleet.connect()
        for device in fleet.devices:
            build = device.state.build
            print(f"{device.serial}\t{device.name}\tAndroid {build.release} (API {build.sdk})")
        sys.stdout.flush()
        if scenarios:
            fleet.play(scenarios, speed=args.speed)
            names = ", ".join(s.name for s in scenarios)
            print(f"playing {names} on every phone", file=sys.stderr)
        hint = "" if client is not None else " (not registered: add --connect)"
        print(f"{len(fleet.devices)} simulated phone(s) up{hint}; Ctrl-C stops", file=sys.stderr)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("disconnecting the simulated phones", file=sys.stderr)
    return ExitCode.OK


def build_parser(extend: Callable[[Any], None] | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; ``extend`` is called with its subparsers to add commands (the TUI's,
    which the agent may not import)."""
    parser = argparse.ArgumentParser(
        prog="tetherguard",
        description="Guard Android phones tethered over adb: permissions, installs, starts.",
        epilog="Exit codes: 0 ok, 1 findings, 2 usage error (or an action refused by tetherguard), "
        "3 adb unavailable or device problem, 4 store problem, 5 the phone refused an action, "
        "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"tetherguard {__version__}")
    parser.add_argument("--debug", action="store_true", help="log everything and show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "devices", help="list attached devices (serial, state, model, Android, transport)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--watch", action="store_true", help="stream hot-plug events as JSON lines until Ctrl-C"
    )
    p.add_argument("--poll", type=float, default=2.0, help="with --watch: poll period in seconds")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("scan", help="one snapshot of each device: apps, sensitive grants, findings")
    p.add_argument("--serial", action="append", default=[], help="only this device (repeat)")
    p.add_argument("--user", action="append", type=int, default=[], help="only this user (repeat)")
    p.add_argument("--json", action="store_true", help="print tetherguard.scan/1 JSON")
    p.add_argument(
        "--labels",
        action="store_true",
        help="read app names: pull each user app's APK once per version (cached)",
    )
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("watch", help="watch devices and report every change with its consent")
    p.add_argument("--serial", action="append", default=[], help="only this device (repeat)")
    p.add_argument("--interval", type=_positive, default=2.0, help="seconds between checks")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--once", action="store_true", help="compare with the stored state and exit")
    p.add_argument(
        "--full-read-every",
        type=int,
        default=60,
        metavar="N",
        help="Android 9 only: re-read all packages every N cycles (it reports no grant cheaply)",
    )
    p.add_argument(
        "--use-period",
        type=_positive,
        default=0.5,
        metavar="S",
        help="seconds between two live probes of sensitive use (mic, camera, location ...)",
    )
    p.add_argument(
        "--policy",
        metavar="NAME|FILE",
        help="apply a policy (a shipped pack such as consumer-default, or a YAML file); "
        "its file is reloaded when it changes",
    )
    p.add_argument(
        "--no-live",
        action="store_true",
        help="no live watch of sensitive use and app starts: state changes only",
    )
    p.add_argument(
        "--no-host",
        action="store_true",
        help="do not watch which programs on this computer talk to adb (host attribution)",
    )
    p.add_argument("--jsonl", action="store_true", help="one JSON object per event on stdout")
    p.add_argument(
        "--store",
        help="the database (default: in the data directory); a postgresql:// URL means --fleet",
    )
    p.add_argument(
        "--fleet",
        metavar="URL",
        help="also ship events, actions and phones to this PostgreSQL (default: "
        "TETHERGUARD_FLEET), through a local outbox that survives outages",
    )
    p.add_argument("--config", type=Path, help="tetherguard.toml (default: the config directory)")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("alerts", help="check the alert targets configured in tetherguard.toml")
    p.add_argument("action", choices=["test"], help="test: send a test alert to every target")
    p.add_argument("--config", type=Path, help="tetherguard.toml (default: the config directory)")
    p.add_argument("--no-device", action="store_true", help="do not post on the phones")
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("events", help="query the recorded events")
    p.add_argument("--since", help="e.g. 30m, 2d (default: all)")
    p.add_argument("--serial")
    p.add_argument("--package")
    p.add_argument("--kind")
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true", help="JSON lines")
    p.add_argument("--store", type=Path, help="the database (default: in the data directory)")
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("baseline", help="accept the current state as consented, or show it")
    p.add_argument("action", choices=["accept", "show"])
    p.add_argument("--all", action="store_true", help="accept everything currently on the devices")
    p.add_argument("--package", help="accept this package's current permissions and modes")
    p.add_argument("--event", help="accept what this event reported")
    p.add_argument("--serial", help="only this device")
    p.add_argument("--store", type=Path, help="the database (default: in the data directory)")
    p.set_defaults(func=cmd_baseline)

    from agent import cli_actions, cli_export, cli_fleet, cli_policy

    cli_actions.add_parsers(sub)
    cli_policy.add_parsers(sub)
    cli_export.add_parsers(sub)
    cli_fleet.add_parsers(sub)

    p = sub.add_parser("connect", help="attach a Wi-Fi/TCP device (adb connect HOST:PORT)")
    p.add_argument("address")
    p.set_defaults(func=cmd_connect)
    p = sub.add_parser("disconnect", help="detach a Wi-Fi/TCP device")
    p.add_argument("address")
    p.set_defaults(func=cmd_disconnect)

    p = sub.add_parser(
        "demo", help="run a simulated fleet on a private adb server and show what tetherguard sees"
    )
    p.add_argument("--devices", type=int, default=4, metavar="N", help="simulated phones (1-200)")
    p.add_argument(
        "--stay", action="store_true", help="keep the fleet running until Ctrl-C (to explore it)"
    )
    p.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="in the TUI: the scenarios the phones live through (repeat; default: a mix)",
    )
    p.add_argument(
        "--every",
        type=_positive,
        default=8.0,
        metavar="S",
        help="in the TUI: about this many seconds between two scenarios",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sim", help="run simulated phones that speak the real adb protocol")
    p.add_argument("--devices", type=int, default=3, metavar="N", help="how many (1-500)")
    p.add_argument(
        "--android",
        default="mixed",
        choices=["9", "10", "11", "12", "13", "14", "15", "mixed"],
        help="Android release of every phone, or mixed (default)",
    )
    p.add_argument(
        "--scenario", action="append", default=[], metavar="NAME", help="play a scenario (repeat)"
    )
    p.add_argument("--speed", type=float, default=1.0, help="scenario time compression")
    p.add_argument("--seed", type=int, default=0, help="vary the phones deterministically")
    p.add_argument("--work-profile", action="store_true", help="give each phone a work profile")
    p.add_argument("--connect", action="store_true", help="register the phones with the adb server")
    p.add_argument("--list-scenarios", action="store_true", help="list scenarios and exit")
    p.set_defaults(func=cmd_sim)
    if extend is not None:
        extend(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except AdbError as exc:
        if args.debug:
            raise
        print(f"tetherguard: {exc.title}: {printable(str(exc))}", file=sys.stderr)
        return ExitCode.DEVICE
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:
        from agent.store import StoreError

        if not isinstance(exc, StoreError) or args.debug:
            raise
        print(f"tetherguard: store: {printable(str(exc))}", file=sys.stderr)
        return ExitCode.STORE


if __name__ == "__main__":
    sys.exit(main())
