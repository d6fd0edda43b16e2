"""Policies applied by the engine through the real adb server: enforce acts (audited, verified,
reported back as tetherguard's), dry-run only says, drift is re-asserted and flagged, and a
reload swaps the policy without a restart while a broken edit keeps the last good one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from agent.adb import AdbClient
from agent.engine import Engine
from agent.events import Consent, Event, Severity
from agent.policy.enforce import Enforced, Enforcer, decide
from agent.policy.load import load_policy, resolve_policy
from agent.policy.model import Act, Match, Policy, Rule
from agent.policy.reload import PolicyWatcher
from agent.policy.trial import try_policy
from agent.sim.scenario import list_scenarios, load_scenario
from agent.store import Store
from tests.adbserver import AdbServer
from tests.support import Plug, run_cli, wait_for

WEIBO, CONTACTS = "com.sina.weibo", "android.permission.READ_CONTACTS"
REVOKE = Act("revoke")


def _policy(mode: str = "enforce", act: Act | None = REVOKE) -> Policy:
    rule = Rule(
        "revoke-unconsented",
        Match(kinds=("permission_granted",), consent=(Consent.NONE,)),
        act=act,
        clause="MIIT II.(4).10",
    )
    return Policy("test", (rule,), mode=mode)  # type: ignore[arg-type]


def test_enforce_revokes_an_unconsented_grant_and_reasserts_it_when_it_comes_back(
    plug: Plug, client: AdbClient, tmp_path: Path
) -> None:
    device = plug("pixel6a-a14")
    state = device.state
    done: list[Enforced] = []
    events: list[Event] = []
    with Store.open(tmp_path / "tg.db") as store:
        engine = Engine(client, store, interval=0.1, serials=[device.serial], live=False)
        enforcer = Enforcer(_policy(), engine.actions, report=done.append).start()
        engine.subscribe(events.append)
        engine.subscribe(enforcer)
        engine.start()
        wait_for(lambda: store.load_snapshot(device.serial) is not None)
        plug.host.call(lambda: state.grant(WEIBO, 0, CONTACTS))  # no flag: nobody consented
        wait_for(lambda: len(done) == 1)
        wait_for(lambda: any(e.kind == "permission_revoked" for e in events))
        assert state.packages[WEIBO].users[0].permissions[CONTACTS].granted is False
        first = done[0]
        assert first.outcome is not None and first.outcome.status == "done"
        assert not first.drift
        # It comes back: revoked again, and flagged as drift.
        plug.host.call(lambda: state.grant(WEIBO, 0, CONTACTS))
        wait_for(lambda: len(done) == 2)
        wait_for(lambda: sum(e.kind == "permission_revoked" for e in events) == 2)
        time.sleep(0.3)
        engine.stop()
        enforcer.close()
        audit = store.audit(serial=device.serial)
    assert done[1].drift and done[1].outcome is not None and done[1].outcome.status == "done"
    assert state.packages[WEIBO].users[0].permissions[CONTACTS].granted is False
    assert [(r.actor, r.action, r.status) for r in audit] == [("policy:test", "revoke", "done")] * 2
    grants = [e for e in events if e.kind == "permission_granted"]
    revokes = [e for e in events if e.kind == "permission_revoked"]
    assert [e.consent for e in grants] == [Consent.NONE, Consent.NONE]  # the findings
    assert {e.consent for e in revokes} == {Consent.TETHERGUARD}  # ours, never findings
    assert len(done) == 2  # our own revocations were not acted on again


def test_dry_run_says_what_it_would_do_and_changes_nothing(
    plug: Plug, client: AdbClient, tmp_path: Path
) -> None:
    device = plug("galaxy-a40-a10")
    state = device.state
    done: list[Enforced] = []
    with Store.open(tmp_path / "tg.db") as store:
        engine = Engine(client, store, interval=0.1, serials=[device.serial], live=False)
        enforcer = Enforcer(_policy("dry-run"), engine.actions, report=done.append).start()
        engine.subscribe(enforcer)
        engine.start()
        wait_for(lambda: store.load_snapshot(device.serial) is not None)
        plug.host.call(lambda: state.grant(WEIBO, 0, CONTACTS))
        wait_for(lambda: len(done) == 1)
        engine.stop()
        enforcer.close()
        assert store.audit() == []
    assert done[0].outcome is None
    assert done[0].decision.describe() == (
        f"test/revoke-unconsented [MIIT II.(4).10]: would revoke {CONTACTS} from {WEIBO} for user 0"
    )
    assert state.packages[WEIBO].users[0].permissions[CONTACTS].granted is True


def _granted(consent: Consent, detail: dict[str, str]) -> Event:
    severity = Severity.HIGH if consent is Consent.NONE else Severity.INFO
    return Event(
        kind="permission_granted",
        serial="S",
        ts=0.0,
        consent=consent,
        severity=severity,
        user=0,
        package=WEIBO,
        detail=detail,
    )


def test_decide_names_what_a_rule_cannot_do() -> None:
    [decision] = decide(_policy(), _granted(Consent.NONE, {}))  # no permission named
    assert decision.action is None and decision.problem == "the event names no permission"
    assert "cannot act: the event names no permission" in decision.describe()
    assert decide(_policy(), _granted(Consent.USER, {"permission": CONTACTS})) == []


def test_a_reload_swaps_the_policy_and_a_broken_edit_keeps_the_last_good_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("one\n")
    loaded: list[Policy] = []
    errors: list[str] = []
    changed = threading.Event()

    def load(p: Path) -> Policy:
        text = p.read_text()
        if not text.startswith("name: "):
            raise ValueError(f"{p}:1: name: missing")
        return Policy(text.split()[1], ())

    def good(policy: Policy) -> None:
        loaded.append(policy)
        changed.set()

    def bad(message: str) -> None:
        errors.append(message)
        changed.set()

    with PolicyWatcher(path, load, good, bad, debounce_s=0.05):
        for text, expect_good in (("name: first\n", True), ("garbage\n", False)):
            changed.clear()
            path.write_text(text)
            assert changed.wait(10), text
            assert (len(loaded), len(errors)) == ((1, 0) if expect_good else (1, 1))
        changed.clear()
        tmp = tmp_path / ".mine.yaml.swp"  # an editor's save: write aside, rename over
        tmp.write_text("name: second\n")
        tmp.replace(path)
        assert changed.wait(10)
    assert [p.name for p in loaded] == ["first", "second"]
    assert "the previous version stays in force" in errors[0]


def _acts(pack: str, scenario: str, profile: str = "pixel8-a15") -> set[tuple[str, str, str]]:
    policy = load_policy(resolve_policy(pack))
    return {
        (d.action.kind, d.action.package, d.action.permission or d.action.op or "")
        for trial in try_policy(policy, load_scenario(scenario), profile)
        for d in trial.decisions
        if d.action is not None
    }


@pytest.mark.parametrize("profile", ["galaxy-a40-a10", "pixel8-a15"])
def test_enterprise_strict_acts_on_what_each_scenario_calls_for(profile: str) -> None:
    expected = {
        "grant-without-consent": {("revoke", WEIBO, CONTACTS)},
        "background-mic": {("appop", "com.tencent.mm", "RECORD_AUDIO")},
        "silent-install": {("disable", "com.sim.luckygame", "")},
        "associated-start": {("restrict", "com.eg.android.AlipayGphone", "")},
        "normal-day": set(),  # the owner's own doings are left alone
        "camera-use": set(),  # a foreground use is not acted on
    }
    for scenario, acts in expected.items():
        assert _acts("enterprise-strict", scenario, profile) == acts, scenario


@pytest.mark.parametrize("pack", ["consumer-default", "research-observe", "cn-miit-2023"])
def test_packs_that_only_watch_never_act_and_every_decision_names_its_rule(pack: str) -> None:
    policy = load_policy(resolve_policy(pack))
    for scenario in list_scenarios():
        for trial in try_policy(policy, scenario):
            for decision in trial.decisions:
                assert decision.rule.name and decision.describe().startswith(f"{pack}/")
                if policy.mode == "enforce":
                    assert decision.action is None, (scenario.name, decision.describe())
    if pack == "cn-miit-2023":
        assert all(rule.clause for rule in policy.rules)


def test_policy_test_cli_prints_what_would_happen(tmp_path: Path) -> None:
    env = {**os.environ, "TETHERGUARD_HOME": str(tmp_path)}
    done = run_cli(
        "policy", "test", "enterprise-strict", "--scenario", "grant-without-consent", env=env
    )
    assert done.returncode == 0, done.stderr
    assert f"revoke {CONTACTS} from {WEIBO} for user 0" in done.stdout
    assert done.stdout.splitlines()[-1] == "1 action(s), 1 alert(s)"
    as_json = run_cli(
        "policy", "test", "enterprise-strict", "--scenario", "silent-install", "--json", env=env
    )
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(r["rule"], r["action"], r["clause"]) for r in rows] == [
        ("disable-silent-installs", "disable", "MIIT I.1")
    ]
    bad = run_cli("policy", "test", "no-such-pack", "--scenario", "silent-install", env=env)
    assert bad.returncode == 2 and "shipped packs: " in bad.stderr


ENFORCING = """\
name: mine
mode: {mode}
rules:
  - name: revoke-unconsented
    when: {{kind: [permission_granted], consent: [none]}}
    act: revoke
"""


def test_watch_policy_enforces_and_reloads_live(
    plug: Plug, adb_server: AdbServer, tmp_path: Path
) -> None:
    device = plug("pixel8-a15")
    state = device.state
    policy = tmp_path / "mine.yaml"
    policy.write_text(ENFORCING.format(mode="enforce"))
    env = dict(adb_server.env, TETHERGUARD_HOME=str(tmp_path))
    db = tmp_path / "data" / "tetherguard.db"
    err = (tmp_path / "stderr.txt").open("w")
    argv = ["watch", "--jsonl", "--no-live", "--interval", "0.2", "--policy", str(policy)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", *argv, "--serial", device.serial],
        env=env,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )

    def stderr() -> str:
        return (tmp_path / "stderr.txt").read_text()

    try:
        wait_for(lambda: "policy mine (1 rules, enforce)" in stderr())
        wait_for(lambda: db.exists())
        with Store.open(db) as store:
            wait_for(lambda: store.load_snapshot(device.serial) is not None)
        plug.host.call(lambda: state.grant(WEIBO, 0, CONTACTS))
        wait_for(lambda: "done: revoke" in stderr())
        wait_for(lambda: not state.packages[WEIBO].users[0].permissions[CONTACTS].granted)
        policy.write_text("name: mine\nrules: [\n")  # a broken save
        wait_for(lambda: "the previous version stays in force" in stderr())
        policy.write_text(ENFORCING.format(mode="dry-run"))
        wait_for(lambda: "policy reloaded: mine (1 rules, dry-run)" in stderr())
        phone = "android.permission.READ_PHONE_STATE"
        plug.host.call(lambda: state.grant("com.tencent.mm", 0, phone))
        wait_for(lambda: "would revoke android.permission.READ_PHONE_STATE" in stderr())
        time.sleep(0.5)
        assert state.packages["com.tencent.mm"].users[0].permissions[phone].granted
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        err.close()
    events = [json.loads(line) for line in out.splitlines()]
    kinds = [(e["kind"], e["package"], e["consent"]) for e in events]
    assert ("permission_revoked", WEIBO, "tetherguard") in kinds
    assert ("permission_granted", "com.tencent.mm", "none") in kinds
    assert not any(k[0] == "permission_revoked" and k[1] == "com.tencent.mm" for k in kinds)


def test_rules_match_device_labels_from_the_configuration(tmp_path: Path) -> None:
    from agent.config import load_config
    from agent.policy.load import parse_policy

    toml = tmp_path / "tetherguard.toml"
    toml.write_text('[devices.labels]\n"R58M*" = ["corp"]\n"R58M0001" = ["sales"]\n')
    devices = load_config(toml, env={}).devices
    assert devices.labels_of("R58M0001") == {"corp", "sales"}
    assert devices.labels_of("emulator-5554") == frozenset()
    policy = parse_policy(
        "name: corp\nmode: enforce\nrules:\n  - name: corp-only\n"
        "    when: {kind: [permission_granted], consent: [none], device_label: [corp]}\n"
        "    act: revoke\n",
        "corp.yaml",
    )
    event = _granted(Consent.NONE, {"permission": CONTACTS})
    assert decide(policy, replace(event, serial="R58M0001"), devices.labels_of)
    assert decide(policy, replace(event, serial="emulator-5554"), devices.labels_of) == []
    toml.write_text('[devices.labels]\n"R58M*" = "corp"\n')
    with pytest.raises(Exception, match=r"devices\.labels\.R58M\*"):
        load_config(toml, env={})
