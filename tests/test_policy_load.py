"""Policy files: the shipped packs load, a broken file says file, line and field, what a rule
matches is what its YAML says, and ``tetherguard policy check`` / ``list`` report it."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from agent.events import KINDS, Consent, Event, Severity
from agent.policy.enforce import decide
from agent.policy.load import (
    PolicyError,
    builtin_policies,
    load_policy,
    parse_policy,
    resolve_policy,
)
from agent.policy.model import Act, Match
from agent.policy.schema import SCHEMA

REPO = Path(__file__).resolve().parents[1]
PACKS = ("cn-miit-2023", "consumer-default", "enterprise-strict", "research-observe")
# The clauses the detectors tag events with (agent/detect.py, uses.py, starts.py).
CLAUSES = {
    "MIIT I.1",
    "MIIT I.3",
    "MIIT I.6",
    "MIIT II.(4).10",
    "MIIT II.(4).11",
    "MIIT II.(4).12",
    "CAC Art.7(4)",
}
P = "android.permission."


def _event(
    kind: str = "permission_granted",
    *,
    consent: Consent = Consent.NONE,
    severity: Severity = Severity.HIGH,
    package: str | None = "com.example.app",
    serial: str = "R58M123",
    user: int | None = 0,
    **detail: Any,
) -> Event:
    return Event(
        kind=kind,
        serial=serial,
        ts=0.0,
        consent=consent,
        severity=severity,
        user=user,
        package=package,
        detail=MappingProxyType(detail),
    )


def _errors(text: str, source: str = "policies/x.yaml") -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source)
    lines = str(caught.value).splitlines()
    assert [p.line for p in caught.value.problems] == sorted(p.line for p in caught.value.problems)
    return lines


GOOD = """\
name: mine
summary: "for tests"
rules:
  - name: first
    when:
      kind: [permission_granted]
      consent: [none]
    act: revoke
  - name: second
    when:
      kind: [autostart]
"""


# --------------------------------------------------------------------------- the shipped packs
def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_every_shipped_pack_loads_and_is_named_after_its_file() -> None:
    packs = builtin_policies()
    assert sorted(packs) == list(PACKS)
    for name, path in packs.items():
        policy = load_policy(path)
        assert policy.name == name == path.stem
        assert policy.rules and policy.summary
        assert policy.source == str(path)
        assert all(r.line is not None and r.line > 1 for r in policy.rules)
        assert all(r.alert or r.act is not None for r in policy.rules)
        assert all(r.clause is None or r.clause in CLAUSES for r in policy.rules)
        assert all(set(r.match.kinds) <= set(KINDS) for r in policy.rules)


def test_the_packs_do_what_they_promise() -> None:
    packs = {name: load_policy(path) for name, path in builtin_policies().items()}
    consumer, strict = packs["consumer-default"], packs["enterprise-strict"]
    research, miit = packs["research-observe"], packs["cn-miit-2023"]
    assert all(r.act is None for r in consumer.rules)
    assert research.mode == "dry-run" and all(r.act is None for r in research.rules)
    assert all(r.match.min_severity is Severity.HIGH for r in research.rules)
    assert strict.mode == "enforce" and miit.mode == "dry-run"
    assert all(r.clause in CLAUSES for r in miit.rules)
    assert {r.clause for r in miit.rules} == CLAUSES  # one rule (or more) per clause
    acts = {r.name: r.act for r in strict.rules}
    assert acts["revoke-unconsented-grants"] == Act("revoke")
    assert acts["ignore-background-mic-and-location"] == Act("appop", "ignore")
    assert acts["disable-silent-installs"] == Act("disable")
    assert acts["restrict-self-starters"] == Act("restrict")
    assert acts["signer-changed"] is None


def test_enterprise_strict_acts_on_background_mic_and_silent_adb_installs_only() -> None:
    strict = load_policy(resolve_policy("enterprise-strict"))
    mic = _event("sensitive_use_started", op="RECORD_AUDIO", foreground=False)
    [decision] = decide(strict, mic)
    assert decision.action is not None
    assert (decision.action.kind, decision.action.op, decision.action.mode) == (
        "appop",
        "RECORD_AUDIO",
        "ignore",
    )
    assert decide(strict, _event("sensitive_use_started", op="RECORD_AUDIO", foreground=True)) == []
    assert decide(strict, _event("sensitive_use_started", op="CAMERA", foreground=False)) == []
    by_adb = _event("silent_install", installer=None, reasons=["installed by none"])
    [decision] = decide(strict, by_adb)
    assert decision.action is not None and decision.action.kind == "disable"
    # Play installed it while the screen was off (a remote install from the web): not disabled.
    assert decide(strict, _event("silent_install", installer="com.android.vending")) == []


def test_resolve_policy_takes_a_file_or_a_pack_name(tmp_path: Path) -> None:
    assert resolve_policy("consumer-default") == REPO / "policies" / "consumer-default.yaml"
    mine = tmp_path / "mine.yaml"
    mine.write_text(GOOD)
    assert resolve_policy(str(mine)) == mine
    with pytest.raises(PolicyError, match="shipped packs: cn-miit-2023, consumer-default"):
        resolve_policy("no-such-pack")


def test_a_good_file_maps_onto_the_model(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        GOOD
        + """\
  - name: third
    clause: "MIIT II.(4).11"
    summary: "  background mic  "
    when:
      kind: [sensitive_use_started]
      package: ["com.tencent.*"]
      not_package: ["com.tencent.mm"]
      installer: ["none"]
      op: [RECORD_AUDIO]
      permission: [RECORD_AUDIO, android.permission.CAMERA]
      user: [0, 10]
      min_severity: medium
      foreground: false
      finding: true
      device: ["R58*"]
    alert: false
    act: {action: appop}
"""
    )
    policy = load_policy(path)
    assert (policy.name, policy.mode, policy.summary) == ("mine", "dry-run", "for tests")
    first, second, third = policy.rules
    assert (first.line, second.line, third.line) == (4, 9, 12)
    assert first.act == Act("revoke") and first.alert and second.act is None
    assert first.match == Match(kinds=("permission_granted",), consent=(Consent.NONE,))
    assert third.clause == "MIIT II.(4).11" and third.summary == "background mic"
    assert not third.alert and third.act == Act("appop", "ignore")
    assert third.match == Match(
        kinds=("sensitive_use_started",),
        packages=("com.tencent.*",),
        not_packages=("com.tencent.mm",),
        installers=("none",),
        ops=("RECORD_AUDIO",),
        permissions=(P + "RECORD_AUDIO", P + "CAMERA"),
        users=(0, 10),
        min_severity=Severity.MEDIUM,
        foreground=False,
        findings_only=True,
        devices=("R58*",),
    )


# --------------------------------------------------------------------------- broken files
def test_an_unknown_key_names_file_line_and_field() -> None:
    text = GOOD.replace("      consent: [none]\n", "      consent: [none]\n      pakage: [x]\n")
    assert _errors(text) == [
        "policies/x.yaml:8: rules[0].when.pakage: unknown key 'pakage' (did you mean 'package'?); "
        "expected one of consent, device, device_label, finding, foreground, installer, kind, "
        "min_severity, "
        "not_installer, not_package, op, package, permission, user"
    ]


def test_a_bad_enum_value_names_file_line_and_field() -> None:
    text = GOOD.replace("consent: [none]", "consent: [user, nobody]")
    assert _errors(text) == [
        "policies/x.yaml:7: rules[0].when.consent[1]: 'nobody' is not one of "
        "none, user, platform, tetherguard, baseline"
    ]
    text = GOOD.replace("kind: [autostart]", "kind: [autostrat]")
    [error] = _errors(text)
    assert error.startswith("policies/x.yaml:11: rules[1].when.kind[0]: 'autostrat' is not one of")
    assert error.endswith("(did you mean 'autostart'?)")


def test_a_bad_type_names_file_line_and_field() -> None:
    text = GOOD.replace("kind: [autostart]", "kind: autostart\n      foreground: maybe")
    assert _errors(text) == [
        "policies/x.yaml:11: rules[1].when.kind: expected a list, not a string ('autostart')",
        "policies/x.yaml:12: rules[1].when.foreground: expected true or false, "
        "not a string ('maybe')",
    ]


def test_a_duplicate_rule_name_names_the_second_one() -> None:
    assert _errors(GOOD.replace("name: second", "name: first")) == [
        "policies/x.yaml:9: rules[1].name: duplicate rule name 'first' (also rules[0], line 4)"
    ]


def test_revoke_on_a_kind_without_a_permission_is_an_error() -> None:
    text = GOOD.replace("kind: [permission_granted]", "kind: [permission_granted, autostart]")
    assert _errors(text) == [
        "policies/x.yaml:8: rules[0].act: revoke needs events that name a permission, but "
        "autostart names none: match only kind permission_flags_changed or permission_granted, "
        "or give when.permission"
    ]


def test_other_cross_field_errors_are_reported_with_their_line() -> None:
    text = GOOD + (
        "  - name: third\n"  # 12
        "    when: {kind: [appop_changed, autostart]}\n"
        "    act: {action: appop, mode: ignore}\n"  # 14
        "  - name: fourth\n"
        "    when: {kind: [autostart]}\n"
        "    alert: false\n"  # 17
        "  - name: fifth\n"
        "    when: {consent: [none]}\n"
        "    act: uninstall\n"  # 20
        "  - name: sixth\n"
        "    when:\n"
        "      kind: [package_installed]\n"
        "      op: [CAMERA]\n"  # 24
    )
    errors = _errors(text)
    assert [e.split(": ")[0] for e in errors] == [
        "policies/x.yaml:14",
        "policies/x.yaml:17",
        "policies/x.yaml:20",
        "policies/x.yaml:24",
    ]
    assert "rules[2].act: appop needs events that name an app op" in errors[0]
    assert "rules[3].alert: a rule must alert or act" in errors[1]
    assert "rules[4].act: a rule that acts (uninstall) names the event kinds" in errors[2]
    assert "rules[5].when.op: never matches" in errors[3]


def test_every_problem_is_reported_one_per_line_sorted_by_line() -> None:
    text = "name: Mine\nmode: enforse\nrules:\n  - when: {kind: [x]}\n    extra: 1\n"
    assert _errors(text, "a.yaml") == [
        "a.yaml:1: name: expected a name of lower-case letters, digits and '-' "
        "(not starting with '-'), not 'Mine'",
        "a.yaml:2: mode: 'enforse' is not one of dry-run, enforce (did you mean 'enforce'?)",
        "a.yaml:4: rules[0]: missing 'name'",
        f"a.yaml:4: rules[0].when.kind[0]: 'x' is not one of {', '.join(sorted(KINDS))}",
        "a.yaml:5: rules[0].extra: unknown key 'extra'; expected one of act, alert, clause, "
        "name, summary, when",
    ]


def test_a_yaml_syntax_error_gives_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: mine\nrules:\n  - name: a\n    when: {kind: [autostart}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert re.fullmatch(rf"{re.escape(str(path))}:4: not valid YAML: .+", str(caught.value))


def test_duplicate_keys_empty_files_and_recursive_aliases_are_errors() -> None:
    assert _errors("name: a\nname: b\nrules: []\n") == [
        "policies/x.yaml:2: name: duplicate key 'name' (first on line 1)",
        "policies/x.yaml:3: rules: must not be empty",
    ]
    assert _errors("") == ["policies/x.yaml:1: the file is empty: a policy has a name and rules"]
    assert _errors("- 1\n") == ["policies/x.yaml:1: expected a mapping, not a list"]
    assert _errors("a: &x [*x]\n") == ["policies/x.yaml:1: an alias refers to itself (recursive)"]


def test_a_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")


# --------------------------------------------------------------------------- matching
def _match(when: str) -> Match:
    policy = parse_policy(f"name: t\nrules:\n  - name: r\n    when: {when}\n", "t.yaml")
    return policy.rules[0].match


def test_package_device_and_installer_globs() -> None:
    m = _match('{package: ["com.tencent.*"], not_package: ["com.tencent.mm"], device: ["R58*"]}')
    assert m.matches(_event(package="com.tencent.qqlive"))
    assert not m.matches(_event(package="com.tencent.mm"))
    assert not m.matches(_event(package="com.example.app"))
    assert not m.matches(_event(package=None))
    assert not m.matches(_event(package="com.tencent.qqlive", serial="emulator-5554"))
    stores = _match(
        '{installer: ["none", "com.android.*"], not_installer: ["com.android.vending"]}'
    )
    assert stores.matches(_event("silent_install", installer=None))
    assert stores.matches(_event("silent_install", installer="com.android.shell"))
    assert not stores.matches(_event("silent_install", installer="com.android.vending"))
    assert not stores.matches(_event("silent_install", installer="com.xiaomi.market"))


def test_consent_and_findings() -> None:
    m = _match("{consent: [none, baseline]}")
    assert m.matches(_event(consent=Consent.NONE))
    assert m.matches(_event(consent=Consent.BASELINE))
    assert not m.matches(_event(consent=Consent.USER))
    findings = _match("{finding: true}")
    assert findings.matches(_event(consent=Consent.NONE, severity=Severity.LOW))
    assert not findings.matches(_event(consent=Consent.NONE, severity=Severity.INFO))
    assert not findings.matches(_event(consent=Consent.PLATFORM, severity=Severity.HIGH))


def test_foreground_is_about_sensitive_use() -> None:
    background = _match("{kind: [sensitive_use_started], foreground: false, op: [RECORD_AUDIO]}")
    use = "sensitive_use_started"
    assert background.matches(_event(use, op="RECORD_AUDIO", foreground=False))
    assert not background.matches(_event(use, op="RECORD_AUDIO", foreground=True))
    assert not background.matches(_event(use, op="RECORD_AUDIO", foreground=None))  # unknown
    assert not background.matches(_event(use, op="CAMERA", foreground=False))


def test_min_severity_users_and_permissions() -> None:
    m = _match("{min_severity: medium, user: [0], permission: [READ_CONTACTS]}")
    contacts = P + "READ_CONTACTS"
    assert m.matches(_event(severity=Severity.MEDIUM, permission=contacts))
    assert m.matches(_event(severity=Severity.HIGH, permission=contacts))
    assert not m.matches(_event(severity=Severity.LOW, permission=contacts))
    assert not m.matches(_event(severity=Severity.HIGH, permission=contacts, user=10))
    assert not m.matches(_event(severity=Severity.HIGH, permission=P + "CAMERA"))


# --------------------------------------------------------------------------- the CLI
def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``tetherguard ARGV`` through :func:`agent.cli_policy.add_parsers` on a parser of our own
    (the command is wired into ``agent.cli`` separately)."""
    from agent.cli_policy import add_parsers

    parser = argparse.ArgumentParser(prog="tetherguard")
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_policy_check_says_ok_or_lists_the_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert _cli(["policy", "check", str(good), "enterprise-strict"], capsys) == (
        0,
        "ok: mine (2 rules, mode dry-run)\nok: enterprise-strict (5 rules, mode enforce)\n",
        "",
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("consent: [none]", "consent: [nobody]"))
    code, out, err = _cli(["policy", "check", str(bad)], capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"{bad}:7: rules[0].when.consent[0]: 'nobody' is not one of none,")
    code, out, err = _cli(["policy", "check", "no-such-pack"], capsys)
    assert (code, out) == (2, "") and "no policy file or shipped pack 'no-such-pack'" in err


def test_policy_list_shows_the_shipped_packs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(["policy", "list"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "MODE", "RULES", "SUMMARY"]
    assert [line.split()[0] for line in lines[1:]] == list(PACKS)
    assert lines[3].split()[:3] == ["enterprise-strict", "enforce", "5"]
    code, out, _ = _cli(["policy", "list", "--json"], capsys)
    rows = json.loads(out)
    assert (rows[0]["name"], rows[0]["mode"]) == ("cn-miit-2023", "dry-run")


def _wired() -> bool:
    from agent.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return "policy" in sub.choices


@pytest.mark.skipif(not _wired(), reason="'policy' is not wired into agent.cli yet")
def test_tetherguard_policy_check_in_a_subprocess(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("act: revoke", "act: revoke\n    colour: red"))
    run = subprocess.run(
        [sys.executable, "-m", "agent.cli", "policy", "check", "consumer-default", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert run.returncode == 2
    assert run.stdout == "ok: consumer-default (7 rules, mode enforce)\n"
    assert run.stderr.startswith(f"{bad}:9: rules[0].colour: unknown key 'colour'")
