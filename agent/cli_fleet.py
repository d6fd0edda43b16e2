"""``tetherguard fleet``: every host's phones from the central database."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from agent.textsafe import printable

OK = 0
USAGE = 2
FAILED = 3


def fleet_url(given: str | None) -> str | None:
    """``--fleet``, else ``TETHERGUARD_FLEET`` (a ``postgresql://`` URL)."""
    return given or os.environ.get("TETHERGUARD_FLEET") or None


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "fleet", help="every host's phones, findings and last contact, from the fleet database"
    )
    p.add_argument("--fleet", help="postgresql:// URL (default: TETHERGUARD_FLEET)")
    p.add_argument("--json", action="store_true", help="one JSON object per phone")
    p.set_defaults(func=cmd_fleet)


def cmd_fleet(args: argparse.Namespace) -> int:
    from agent.fleet import FleetError, fleet_view, seen_words

    url = fleet_url(args.fleet)
    if not url:
        print(
            "tetherguard fleet: give --fleet postgresql://... (or TETHERGUARD_FLEET)",
            file=sys.stderr,
        )
        return USAGE
    try:
        view = fleet_view(url)
    except FleetError as exc:
        print(f"tetherguard fleet: {exc}", file=sys.stderr)
        return FAILED
    if args.json:
        for device in view:
            print(json.dumps(device.as_dict(), sort_keys=True))
        return OK
    now = time.time()
    print(
        f"{'HOST':<16} {'DEVICE':<24} {'STATE':<13} {'MODEL':<16} {'ANDROID':<8} "
        f"{'FINDINGS 7D':>11} {'POLICY (ACTIONS 7D)':<24} LAST SEEN"
    )
    for d in view:
        policy = f"{d.policy} ({d.policy_actions_7d})" if d.policy else "-"
        seen = seen_words(now - d.last_seen)
        print(
            printable(
                f"{d.host_name[:16]:<16} {d.serial[:24]:<24} {(d.state or '-')[:13]:<13} "
                f"{(d.model or '-')[:16]:<16} {(d.release or '-')[:8]:<8} "
                f"{d.findings_7d:>11} {policy[:24]:<24} {seen}",
                300,
            )
        )
    hosts = {d.host for d in view}
    print(f"{len(view)} phone(s) on {len(hosts)} host(s)", file=sys.stderr)
    return OK
