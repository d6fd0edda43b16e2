"""The ``policy`` commands of the CLI: ``policy check FILE|NAME`` and ``policy list``.

``check`` loads and validates policy files (or shipped packs by name) and prints
``ok: NAME (N rules, mode M)`` for each good one on stdout, and each problem of a bad one as
``FILE:LINE: FIELD: MESSAGE`` on stderr; it exits 0 when all are good, 2 otherwise. ``list``
shows the packs shipped in ``policies/``. The policy loader (YAML, JSON Schema) is imported by
the commands themselves, so registering them costs the rest of the CLI nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from agent.textsafe import printable

if TYPE_CHECKING:
    from agent.policy.load import PolicyError

OK = 0
USAGE = 2
"""Exit codes (``agent.cli.ExitCode``): a policy that does not load is a usage error."""


def add_parsers(sub: Any) -> Any:
    """Register ``policy`` and its commands on the CLI's subparsers; returns the ``policy``
    subparsers, for more commands (``policy test``)."""
    p = sub.add_parser("policy", help="check policy files, list the shipped packs")
    p.set_defaults(func=lambda args: _usage(p))
    actions = p.add_subparsers(dest="policy_command", metavar="ACTION")
    c = actions.add_parser("check", help="validate policy files or shipped packs; exit 2 if bad")
    c.add_argument("policy", nargs="+", metavar="FILE|NAME", help="a policy file or a pack name")
    c.set_defaults(func=cmd_policy_check)
    c = actions.add_parser(
        "test", help="what a policy would do while a simulated scenario plays (no phone)"
    )
    c.add_argument("policy", metavar="FILE|NAME", help="a policy file or a pack name")
    c.add_argument("--scenario", required=True, action="append", help="scenario name (repeat)")
    c.add_argument(
        "--profile",
        default="pixel8-a15",
        help="simulated phone profile (default pixel8-a15; an unknown name lists them)",
    )
    c.add_argument("--json", action="store_true", help="one JSON object per decision")
    c.set_defaults(func=cmd_policy_test)
    c = actions.add_parser("list", help="the policy packs shipped with tetherguard")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.set_defaults(func=cmd_policy_list)
    return actions


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return USAGE


def _problems(exc: PolicyError) -> None:
    for line in str(exc).splitlines():
        print(printable(line, None), file=sys.stderr)


def cmd_policy_check(args: argparse.Namespace) -> int:
    from agent.policy.load import PolicyError, load_policy, resolve_policy

    status = OK
    for name in args.policy:
        try:
            policy = load_policy(resolve_policy(name))
        except PolicyError as exc:
            _problems(exc)
            status = USAGE
            continue
        print(
            printable(f"ok: {policy.name} ({len(policy.rules)} rules, mode {policy.mode})"),
            flush=True,
        )
    return status


def cmd_policy_list(args: argparse.Namespace) -> int:
    from agent.policy.load import PolicyError, builtin_policies, load_policy

    status = OK
    rows: list[dict[str, Any]] = []
    for path in builtin_policies().values():
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            _problems(exc)
            status = USAGE
            continue
        rows.append(
            {
                "name": policy.name,
                "mode": policy.mode,
                "rules": len(policy.rules),
                "summary": policy.summary,
                "path": str(path),
            }
        )
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return status
    if not rows:
        print("no policy packs shipped with this installation", file=sys.stderr)
        return status
    width = max(len(r["name"]) for r in rows)
    print(f"{'NAME':<{width}}  {'MODE':<7}  RULES  SUMMARY")
    for r in rows:
        print(printable(f"{r['name']:<{width}}  {r['mode']:<7}  {r['rules']:>5}  {r['summary']}"))
    return status


def cmd_policy_test(args: argparse.Namespace) -> int:
    """Replay each scenario in-process and print the policy's decision on every event."""
    from agent.policy.load import PolicyError, load_policy, resolve_policy
    from agent.policy.trial import try_policy
    from agent.sim.profiles import PROFILES
    from agent.sim.scenario import ScenarioError, load_scenario

    try:
        policy = load_policy(resolve_policy(args.policy))
    except PolicyError as exc:
        _problems(exc)
        return USAGE
    if args.profile not in PROFILES:
        print(
            f"tetherguard: no profile {printable(args.profile)}; one of {', '.join(PROFILES)}",
            file=sys.stderr,
        )
        return USAGE
    acted = alerted = 0
    for name in args.scenario:
        try:
            scenario = load_scenario(name)
        except (ScenarioError, OSError) as exc:
            print(f"tetherguard: scenario: {printable(str(exc))}", file=sys.stderr)
            return USAGE
        if not args.json:
            print(f"{scenario.name} on {args.profile} ({policy.name}, {policy.mode}):")
        for trial in try_policy(policy, scenario, args.profile):
            event = trial.event
            for decision in trial.decisions:
                acted += decision.action is not None
                alerted += decision.alert
                if args.json:
                    print(
                        json.dumps(
                            {
                                "scenario": scenario.name,
                                "event": event.kind,
                                "package": event.package,
                                "consent": event.consent.value,
                                "policy": decision.policy,
                                "rule": decision.rule.name,
                                "clause": decision.rule.clause,
                                "mode": decision.mode,
                                "alert": decision.alert,
                                "action": None if decision.action is None else decision.action.kind,
                                "target": None
                                if decision.action is None
                                else {
                                    "package": decision.action.package,
                                    "user": decision.action.user,
                                    "permission": decision.action.permission,
                                    "op": decision.action.op,
                                    "mode": decision.action.mode,
                                },
                                "problem": decision.problem,
                            }
                        ),
                        flush=True,
                    )
                    continue
                alert = " + alert" if decision.alert and decision.action is not None else ""
                print(
                    f"  {printable(event.kind)} {printable(event.package or '-')}: "
                    f"{printable(decision.describe())}{alert}"
                )
            if not trial.decisions and not args.json:
                print(
                    f"  {printable(event.kind)} {printable(event.package or '-')}: no rule matches"
                )
    if not args.json:
        print(f"{acted} action(s), {alerted} alert(s)")
    return OK
