"""The ``tetherguard`` command: the agent's CLI plus the TUI's two commands.

The agent never imports the TUI (a contract checks it), so the front door lives here: ``tui``
and an interactive ``demo`` start Textual; every other command is the agent's, and imports no
Textual at all (the TUI modules load only for these two).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from agent.cli import ExitCode, build_parser
from agent.cli import main as agent_main


def _add_tui(sub: Any) -> None:
    p = sub.add_parser("tui", help="the terminal UI on the phones attached (engine in-process)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between checks")
    p.add_argument("--serial", action="append", help="only this phone (repeatable)")
    p.add_argument("--store", help="the database (default: [store] path of the configuration)")
    p.add_argument("--config", help="the tetherguard.toml to read (default: the usual places)")
    p.add_argument("--fleet", metavar="URL", help="the fleet database the hosts screen (h) reads")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_add_tui)
    args = parser.parse_args(args_list)
    if args.command == "tui":
        return _tui(args)
    if args.command == "demo" and not args.stay and sys.stdin.isatty() and sys.stdout.isatty():
        # In a terminal the demo is the TUI on a simulated fleet; piped, the headless listing.
        from agent.sim.scenario import ScenarioError, load_scenario
        from tui.run import run_demo_tui

        try:
            for name in args.scenario or ():
                load_scenario(name)
        except ScenarioError as exc:
            print(f"tetherguard demo: {exc}", file=sys.stderr)
            return ExitCode.USAGE
        run_demo_tui(devices=args.devices, story=args.scenario, every_s=args.every)
        return ExitCode.OK
    return agent_main(args_list)


def _tui(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent.adb import AdbClient
    from agent.cli_fleet import fleet_url
    from agent.config import ConfigError, load_config
    from agent.labels import LabelCache
    from agent.paths import cache_dir
    from agent.store import Store, StoreError
    from agent.textsafe import printable
    from tui.run import run_tui

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"tetherguard: config: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    path = Path(args.store) if args.store else config.store.path
    try:
        with Store.open(path, retention_days=config.store.retention_days) as store:
            run_tui(
                AdbClient(),
                store,
                interval=args.interval,
                serials=args.serial,
                labels=LabelCache(cache_dir() / "labels"),
                fleet_url=fleet_url(args.fleet),
            )
    except StoreError as exc:  # locked, full, damaged, or watched by another tetherguard
        if args.debug:
            raise
        print(f"tetherguard: store: {printable(str(exc))}", file=sys.stderr)
        return ExitCode.STORE
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
