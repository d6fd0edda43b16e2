"""Unit tests of agent.parsers.appops on small texts, one per format trait (O, P, Q, R+, get).

The texts are written here in the exact shapes AppOpsService prints (indentation included);
the real captures are exercised by test_parsers_conformance_appops.py.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import model
from agent.model import AppOpEntry, AppOpsDump, OpAccess, OpRun, Parsed
from agent.parsers import appops
from agent.parsers.appops import parse_appops_get, parse_dumpsys_appops, parse_duration

HEADER = "Current AppOps Service state:\n"


def dump(body: str) -> str:
    """The dump header, then ``body`` without the indentation of its closing line.

    ``textwrap.dedent`` would strip the smallest indentation, but a dump's smallest is 2
    (``  Uid 1000:``) or 0 and must survive: the closing quotes mark column 0 instead.
    """
    lines = body.split("\n")
    base = len(lines[-1]) if not lines[-1].strip() else 0
    kept = [line[base:] if line[:base].isspace() else line.lstrip(" ") for line in lines[1:-1]]
    return HEADER + "".join(line + "\n" for line in kept)


def ops(result: Parsed[AppOpsDump], package: str) -> dict[str, AppOpEntry]:
    return {entry.op: entry for entry in result.value.ops_of(package)}


def format_duration(ms: int) -> str:
    """android.util.TimeUtils.formatDuration(long) (fieldLen 0), ported for round trips."""
    if ms == 0:
        return "0"
    sign = "+" if ms > 0 else "-"
    ms = abs(ms)
    millis, seconds = ms % 1000, ms // 1000
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    out = [sign]
    printed = False
    for amount, suffix in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")):
        if printed or amount > 0:
            out.append(f"{amount}{suffix}")
            printed = True
    out.append(f"{millis}ms")
    return "".join(out)


# ------------------------------------------------------------------------------ durations
@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("-1d2h3m4s5ms", -93_784_005),
        ("+5s0ms", 5_000),
        ("-12ms", -12),
        ("0", 0),
        ("+27s669ms", 27_669),
        ("+21h32m54s633ms", 77_574_633),
        ("-246d13h15m13s32ms", -21_302_113_032),
        ("-1d0h0m4s0ms", -86_404_000),
        ("+1m0s0ms", 60_000),
        ("+999ms", 999),
    ],
)
def test_parse_duration_inverts_format_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms
    assert format_duration(ms) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "5ms",  # no sign
        "+3s",  # no millis field
        "+0ms",  # zero has no sign
        "-0ms",
        "+0h5m0s0ms",  # a zero first field is never printed
        "+1d5m0s0ms",  # a field after the first is always printed
        "+61s0ms",  # carried into minutes
        "+24h0m0s0ms",  # carried into days
        "+1000ms",
        "+05ms",  # no zero padding
        "+1h05m0s0ms",
        "--5ms",
        "+5s0ms ",
        "+5 s0ms",
        "+1d2h3m4s5ms6ms",
        "+" + "9" * 5000 + "d0h0m0s0ms",  # no int() of a huge digit run
    ],
)
def test_parse_duration_refuses_what_format_duration_never_prints(text: str) -> None:
    assert parse_duration(text) is None


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_parse_duration_round_trips(ms: int) -> None:
    assert parse_duration(format_duration(ms)) == ms


# ------------------------------------------------------------------------------ P (Android 9)
P_DUMP = dump(
    """
      Settings:
        top_state_settle_time=+30s0ms

      Profile owners:
        User #0: u0a58

      Clients:
        android.os.Binder@fbf43f5:
          ClientState{mAppToken=android.os.Binder@fbf43f5, pid=638}
          Started ops:
            uid=1000 pkg=android op=MONITOR_LOCATION

      Uid 1000:
        state=pers 
        startNesting=1
        Package android:
          COARSE_LOCATION (allow): 
          FINE_LOCATION (allow / switch COARSE_LOCATION=allow): 
              Access: pers  = 2026-08-09 10:40:07.177 (-21h32m51s810ms)
          WAKE_LOCK (allow): 
              Access: pers  = 2026-08-10 08:10:31.791 (-2m27s196ms)
                      fg    = 2026-04-11 03:58:41.049 (-121d4h14m17s938ms)
              Reject: cch   = 2026-04-11 03:58:42.049 (-121d4h14m16s938ms)
                      bg    = 2026-04-11 03:58:43.049 (-121d4h14m15s938ms)
              duration=+17ms
          MONITOR_LOCATION (allow / switch COARSE_LOCATION=allow): 
              Access: pers  = 2026-08-09 10:40:07.170 (-21h32m51s817ms)
              Running start at: +21h32m54s633ms
              startNesting=1
      Uid u0a9:
        state=bg   
        pendingState=cch  
        pendingStateCommitTime=-20s201ms
          COARSE_LOCATION: mode=foreground
        Package com.amazon.diode:
          READ_EXTERNAL_STORAGE (allow): 
              Access: bg    = 2026-08-05 01:55:34.652 (-5d6h17m24s335ms)
                      cch   = 2026-08-09 10:40:32.800 (-21h32m26s187ms)
          WRITE_EXTERNAL_STORAGE (allow): 
              Access: bg    = 2026-08-05 01:55:34.652 (-5d6h17m24s335ms)
                      cch   = 2026-08-09 10:40:32.800 (-21h32m26s187ms)

      User restrictions for token android.os.Binder@c5d1a7e:
          Restricted ops:
            user: 10 restricted ops: [READ_CALL_LOG, WRITE_CALL_LOG]
    """
)


def test_p_blocks_states_and_skipped_sections() -> None:
    result = parse_dumpsys_appops(P_DUMP)
    assert result.error is None
    assert result.warnings == ()
    system, diode = result.value.uids
    assert (system.uid, system.uid_state) == (1000, "pers")  # padded "pers " trimmed
    assert dict(system.properties) == {"startNesting": "1"}
    assert list(system.packages) == ["android"]
    assert (diode.uid, diode.uid_state) == (10009, "bg")
    assert dict(diode.properties) == {"pendingState": "cch", "pendingStateCommitTime": "-20s201ms"}
    assert dict(diode.modes) == {"COARSE_LOCATION": "foreground"}  # uid scope, not a package op


def test_p_access_and_continuation_lines() -> None:
    android = ops(parse_dumpsys_appops(P_DUMP), "android")
    assert android["COARSE_LOCATION"].accesses == ()
    fine = android["FINE_LOCATION"]
    assert (fine.mode, fine.switch_op, fine.switch_mode) == ("allow", "COARSE_LOCATION", "allow")
    assert fine.accesses == (OpAccess("pers", "", "2026-08-09 10:40:07.177", -77_571_810),)
    wake = android["WAKE_LOCK"]
    assert [(a.uid_state, a.rejected, a.relative_ms) for a in wake.accesses] == [
        ("pers", False, -147_196),
        ("fg", False, -10_469_657_938),  # continuation of Access:
        ("cch", True, -10_469_656_938),
        ("bg", True, -10_469_655_938),  # continuation of Reject:
    ]
    assert wake.duration_ms == 17  # P prints the last duration per op
    assert not wake.running


def test_p_running_op() -> None:
    monitor = ops(parse_dumpsys_appops(P_DUMP), "android")["MONITOR_LOCATION"]
    assert monitor.running
    assert monitor.running_for_ms == 77_574_633
    assert monitor.nesting == 1
    assert monitor.runs == (OpRun(None, 77_574_633, 1),)


def test_equal_records_of_a_package_are_equal_values() -> None:
    diode = ops(parse_dumpsys_appops(P_DUMP), "com.amazon.diode")
    assert diode["READ_EXTERNAL_STORAGE"].accesses == diode["WRITE_EXTERNAL_STORAGE"].accesses
    assert len(diode["READ_EXTERNAL_STORAGE"].accesses) == 2


# ------------------------------------------------------------------------------ Q (Android 10)
Q_DUMP = dump(
    """
      Op mode watchers:
        Op COARSE_LOCATION:
          #0: ModeCallback{b8f1a14 watchinguid=-1 flags=0x1 from uid=1000 pid=4098}

      Uid u0a103:
        state=cch
          COARSE_LOCATION: mode=ignore
          LEGACY_STORAGE: mode=allow
        Package com.facebook.katana:
          READ_CONTACTS (allow):
              Access: [bg-tpd] 2022-03-07 18:05:34.325 (-22d4h22m19s762ms)
          WRITE_SMS (ignore):
              Reject: [fg-s]2021-05-19 22:02:52.054 (-314d1h25m2s33ms)
              Reject: [cch-s]2022-03-29 18:48:02.923 (-4h39m51s164ms)
          WAKE_LOCK (allow):
              Access: [bg-s] 2022-03-29 23:03:03.763 (-24m50s324ms) duration=+33ms
              Running start at: +3s0ms
          TOAST_WINDOW (allow):
              Access: [bg-s] 2022-01-24 05:16:25.882 (-10d8h47m39s979ms) duration=+1s942ms proxy[uid=0, pkg=null]
              Access: [top-s|tp] 2022-01-24 05:16:26.882 (-10d8h47m38s979ms) proxy[uid=1000, pkg=android]
          COARSE_LOCATION (ignore):
    """  # noqa: E501
)


def test_q_keys_rejects_proxies_and_scopes() -> None:
    result = parse_dumpsys_appops(Q_DUMP)
    assert (result.error, result.warnings) == (None, ())
    (block,) = result.value.uids
    assert (block.uid, block.uid_state) == (10103, "cch")
    assert dict(block.modes) == {"COARSE_LOCATION": "ignore", "LEGACY_STORAGE": "allow"}
    katana = ops(result, "com.facebook.katana")
    # The same op at uid scope (ignore) and package scope (ignore) stays apart.
    assert katana["COARSE_LOCATION"].mode == "ignore"
    assert katana["COARSE_LOCATION"].scope == "package"
    (contacts,) = katana["READ_CONTACTS"].accesses
    assert (contacts.uid_state, contacts.flags, contacts.rejected) == ("bg", "tpd", False)
    sms = katana["WRITE_SMS"].accesses
    assert [(a.uid_state, a.time, a.rejected) for a in sms] == [
        ("fg", "2021-05-19 22:02:52.054", True),  # "Reject: [fg-s]2021-..." has no space
        ("cch", "2022-03-29 18:48:02.923", True),
    ]
    (wake,) = katana["WAKE_LOCK"].accesses
    assert wake.duration_ms == 33
    assert katana["WAKE_LOCK"].running_for_ms == 3_000
    toast = katana["TOAST_WINDOW"].accesses
    assert (toast[0].proxy_uid, toast[0].proxy_package, toast[0].duration_ms) == (0, None, 1942)
    assert (toast[1].flags, toast[1].proxy_uid, toast[1].proxy_package) == ("s|tp", 1000, "android")
    assert toast[1].proxy_tag is None


# ------------------------------------------------------------------------------ R+ (11 to 15)
R_DUMP = dump(
    """
      All op started watchers:
        6a0b1c8 ->
            [CAMERA, RECORD_AUDIO]
            StartedCallback{e8b6f61 watchinguid=-1 flags=0x0 from uid=u0a36 pid=923}

      Uid u0a118:
        state=fg
        capability=LCMN
        appWidgetVisible=false
          CAMERA: mode=ignore
        Package com.google.android.gms:
          READ_CONTACTS (allow):
            null=[
              Access: [fgsvc-s] 2020-02-14 14:24:10.559 (-3d23h15m43s642ms)
            ]
            com.google.android.gms.icing=[
              Access: [fgsvc-tpd] 2020-02-14 14:26:27.018 (-3d23h13m27s183ms) proxy[uid=10070, pkg=com.android.providers.contacts, attributionTag=null]
            ]
          MONITOR_LOCATION (allow / switch COARSE_LOCATION=allow):
            null=[
              Access: [top-s] 2020-06-18 19:22:38.445 (-27s668ms) duration=+27s670ms
              Running start at: +27s669ms
              startNesting=2
            ]
            fused_location_provider=[
              Reject: [cch-s]2026-10-01 10:00:00.000 (-4d2h0m0s0ms) proxy[uid=1000, pkg=android, attributionTag=a, b=[c]]
              Running start at: +5s0ms
            ]
      Uid 1000:
        state=pers
        capability=-------
        appWidgetVisible=false
        Package android:
          RECORD_AUDIO (allow):
            null=[
              Reject: [top-s]2026-10-01 10:00:00.000 (0)
            ]

      AppOps policy not set.

    Uid State Changes Event Log:
    2024-01-01 10:00:00.000 COMMIT_UID_STATE      uid=10118    uidState=fg
    Discrete accesses: 
      Uid: 10118
        Package: com.google.android.gms
          RECORD_AUDIO
            Attribution: null
              Access [top-s] at 2024-01-01 10:00:00.000 for 60000 milliseconds 
    """  # noqa: E501
)


def test_r_attribution_groups_and_tags() -> None:
    result = parse_dumpsys_appops(R_DUMP)
    assert (result.error, result.warnings) == (None, ())
    gms, system = result.value.uids
    assert (gms.uid, gms.capability, dict(gms.properties)) == (
        10118,
        "LCMN",
        {"appWidgetVisible": "false"},
    )
    assert dict(gms.modes) == {"CAMERA": "ignore"}
    assert (system.uid, system.capability) == (1000, "-------")
    contacts = ops(result, "com.google.android.gms")["READ_CONTACTS"]
    assert [a.attribution_tag for a in contacts.accesses] == [None, "com.google.android.gms.icing"]
    proxied = contacts.accesses[1]
    assert (proxied.flags, proxied.proxy_uid, proxied.proxy_package, proxied.proxy_tag) == (
        "tpd",
        10070,
        "com.android.providers.contacts",
        None,
    )
    assert ops(result, "android")["RECORD_AUDIO"].accesses[0].relative_ms == 0  # "(0)"


def test_r_running_per_tag() -> None:
    monitor = ops(parse_dumpsys_appops(R_DUMP), "com.google.android.gms")["MONITOR_LOCATION"]
    assert monitor.runs == (
        OpRun(None, 27_669, 2),
        OpRun("fused_location_provider", 5_000, 1),
    )
    assert (monitor.running, monitor.running_for_ms, monitor.nesting) == (True, 27_669, 2)
    first, second = monitor.accesses
    assert (first.attribution_tag, first.duration_ms) == (None, 27_670)
    # A tag may hold anything: the proxy's tag is the rest after its first field name.
    assert (second.rejected, second.attribution_tag) == (True, "fused_location_provider")
    assert (second.proxy_package, second.proxy_tag) == ("android", "a, b=[c]")


def test_tail_sections_are_not_read_as_uid_blocks() -> None:
    # "  Uid: 10118" of the discrete accesses is not a "  Uid u0a118:" block.
    assert [u.uid for u in parse_dumpsys_appops(R_DUMP).value.uids] == [10118, 1000]


# ------------------------------------------------------------------------------ O (Android 8)
def test_o_numeric_modes_and_running_suffix() -> None:
    result = parse_dumpsys_appops(
        dump(
            """
              Uid u0a123:
                  COARSE_LOCATION: mode=1
                Package com.example:
                  CAMERA: mode=0; time=+5m3s0ms ago; duration=+2s0ms
                  READ_CLIPBOARD: mode=4; time=+1h0m0s0ms ago; rejectTime=+2d0h0m0s0ms ago
                  RECORD_AUDIO: mode=0; time=+4s0ms ago (running)
            """
        )
    )
    assert (result.error, result.warnings) == (None, ())
    assert dict(result.value.uids[0].modes) == {"COARSE_LOCATION": "ignore"}
    example = ops(result, "com.example")
    assert example["CAMERA"].mode == "allow"
    assert example["CAMERA"].accesses == (OpAccess("", relative_ms=-303_000),)
    assert example["CAMERA"].duration_ms == 2_000
    clip = example["READ_CLIPBOARD"]
    assert clip.mode == "foreground"
    assert [(a.rejected, a.relative_ms) for a in clip.accesses] == [
        (False, -3_600_000),
        (True, -172_800_000),
    ]
    audio = example["RECORD_AUDIO"]
    assert (audio.running, audio.runs, audio.duration_ms) == (True, (), None)


# ------------------------------------------------------------------------------ uids
@pytest.mark.parametrize(
    ("printed", "uid"),
    [
        ("0", 0),
        ("1000", 1000),
        ("u0a123", 10_123),
        ("u10a128", 1_010_128),
        ("u10s1000", 1_001_000),
        ("u0i3", 99_003),
        ("u0ai2", 90_002),
    ],
)
def test_uid_forms(printed: str, uid: int) -> None:
    result = parse_dumpsys_appops(f"{HEADER}  Uid {printed}:\n    state=cch\n")
    assert [u.uid for u in result.value.uids] == [uid]


def test_unknown_uid_form_skips_its_block_with_one_warning() -> None:
    result = parse_dumpsys_appops(
        dump(
            """
              Uid u0x5:
                state=cch
                Package a:
                  CAMERA (allow):
              Uid 1000:
                state=pers
            """
        )
    )
    assert [u.uid for u in result.value.uids] == [1000]
    assert [(w.line_no, w.reason) for w in result.warnings] == [
        (2, "uid not understood; block skipped")
    ]


# ------------------------------------------------------------------------------ bad input
def test_unknown_line_gives_a_warning_with_its_line_number() -> None:
    text = dump(
        """
          Uid 1000:
            state=pers
            Package android:
              CAMERA (allow):
                  Access: [top-s] 2024-01-01 10:00:00.000 (-5s0ms)
                  something new
                  Access: [top-s] 2024-01-01 10:00:00.000 (-5s)
              ???
        """
    )
    result = parse_dumpsys_appops(text)
    assert result.error is None
    assert [(w.line_no, w.line.strip(), w.reason) for w in result.warnings] == [
        (7, "something new", "line in an op not understood"),
        (
            8,
            "Access: [top-s] 2024-01-01 10:00:00.000 (-5s)",
            "relative time is not TimeUtils.formatDuration text",
        ),
        (9, "???", "op line not understood"),
    ]
    assert text.split("\n")[6].strip() == "something new"  # line 7, 1-based
    (camera,) = result.value.ops_of("android")
    assert len(camera.accesses) == 1  # what was understood is kept


def test_unknown_section_is_skipped_with_one_warning() -> None:
    result = parse_dumpsys_appops(
        dump(
            """
              Oplus op hooks:
                CAMERA -> hook#1
                  Uid 1000:
              Uid 1000:
                state=pers
            """
        )
    )
    assert [u.uid for u in result.value.uids] == [1000]
    assert [(w.line_no, w.reason) for w in result.warnings] == [(2, "unknown section; skipped")]


def test_unknown_mode_is_kept_as_unknown_with_a_warning() -> None:
    result = parse_dumpsys_appops(
        dump(
            """
              Uid u0a5:
                state=cch
                  AUTO_START: mode=5
                Package com.miui.x:
                  OP_READ_PHONE_STATE (mode=5):
            """
        )
    )
    (entry,) = result.value.ops_of("com.miui.x")
    assert (entry.op, entry.mode) == ("READ_PHONE_STATE", "unknown")  # OP_ prefix normalised
    assert dict(result.value.uids[0].modes) == {"AUTO_START": "5"}
    assert [w.reason for w in result.warnings] == ["mode not understood"] * 2


def test_truncated_dump_gives_partial_result_and_error() -> None:
    text = Q_DUMP[: Q_DUMP.index("(-24m50s324ms)") + 5]  # cut inside the WAKE_LOCK access line
    result = parse_dumpsys_appops(text)
    assert result.error is not None and "cut off" in result.error
    katana = ops(result, "com.facebook.katana")
    assert set(katana) == {"READ_CONTACTS", "WRITE_SMS", "WAKE_LOCK"}
    assert len(katana["WRITE_SMS"].accesses) == 2
    assert katana["WAKE_LOCK"].accesses == ()
    assert result.warnings[-1].line_no == text.count("\n") + 1


def test_open_attribution_group_at_the_end_is_an_error() -> None:
    text = R_DUMP[: R_DUMP.index("        fused_location_provider=[")]
    text += "        fused_location_provider=[\n"
    result = parse_dumpsys_appops(text)
    assert result.error is not None and "not closed" in result.error
    assert ops(result, "com.google.android.gms")["MONITOR_LOCATION"].running


@pytest.mark.parametrize(
    "text",
    [
        "Permission Denial: can't dump AppOps from from pid=1, uid=2000 due to missing "
        "android.permission.DUMP permission\n",
        "Unknown package: com.nope\n",
        "Unknown option: --nope\n",
        "AppOps service (appops) dump options:\n  -h\n    Print this help text.\n",
    ],
)
def test_refusals_are_errors(text: str) -> None:
    result = parse_dumpsys_appops(text)
    assert result.error is not None
    assert result.value == AppOpsDump()


@pytest.mark.parametrize("text", ["", "\n", "   \n\n"])
def test_empty_input_is_an_error(text: str) -> None:
    result = parse_dumpsys_appops(text)
    assert result.error is not None
    assert result.value == AppOpsDump()


def test_fragment_without_header_is_parsed_but_flagged() -> None:
    result = parse_dumpsys_appops("  Uid 1000:\n    state=pers\n")
    assert [u.uid for u in result.value.uids] == [1000]
    assert result.error is not None and "Current AppOps Service state" in result.error


def test_second_dump_is_not_merged() -> None:
    result = parse_dumpsys_appops(P_DUMP + P_DUMP)
    assert len(result.value.uids) == 2
    assert result.warnings[-1].reason == "a second dump starts here; not read"


def test_crlf_is_tolerated() -> None:
    crlf = parse_dumpsys_appops(Q_DUMP.replace("\n", "\r\n"))
    assert crlf == parse_dumpsys_appops(Q_DUMP)
    text = concatenated(Q_DUMP)
    assert parse_dumpsys_appops(text.replace("\n", "\r\n")) == parse_dumpsys_appops(text)


def test_text_without_newlines_is_not_taken_for_a_dump() -> None:
    # Only "\n" ends a line (as on Android): a text split by "\r" alone is one odd line.
    result = parse_dumpsys_appops(Q_DUMP.replace("\n", "\r"))
    assert result.value == AppOpsDump()
    assert result.error is not None
    assert [w.line_no for w in result.warnings] == [1]


# ------------------------------------------------------------------------------ concatenation
def concatenated(section: str) -> str:
    return (
        "Currently running services:\n  appops\n  package\n"
        + "-" * 79
        + "\nDUMP OF SERVICE package:\n  Package [a] (1):\n    userId=10001\n"
        + "--------- 0.010s was the duration of dumpsys package, ending at: 2022-03-29 23:14:26\n"
        + "-" * 79
        + "\nDUMP OF SERVICE appops:\n"
        + section
        + "--------- 0.053s was the duration of dumpsys appops, ending at: 2022-03-29 23:14:27\n"
        + "-" * 79
        + "\nDUMP OF SERVICE appwidget:\n  Uid 5:\n"
    )


def test_concatenated_dumpsys_reads_the_appops_section_with_global_line_numbers() -> None:
    text = concatenated(Q_DUMP.replace("      COARSE_LOCATION (ignore):\n", "      ???\n"))
    result = parse_dumpsys_appops(text)
    assert result.error is None
    assert [u.uid for u in result.value.uids] == [10103]  # not the appwidget "Uid 5:"
    (warning,) = result.warnings
    assert text.split("\n")[warning.line_no - 1] == "      ???"


def test_concatenated_dumpsys_without_appops() -> None:
    result = parse_dumpsys_appops("DUMP OF SERVICE package:\n  Package [a] (1):\n")
    assert result.error is not None and "appops" in result.error


def test_concatenated_dumpsys_cut_inside_appops() -> None:
    text = concatenated(Q_DUMP)
    result = parse_dumpsys_appops(text[: text.index("--------- 0.053s")])
    assert result.error is not None and "cut off" in result.error
    assert [u.uid for u in result.value.uids] == [10103]


def test_dumpsys_timeout_is_an_error() -> None:
    section = Q_DUMP + "*** SERVICE 'appops' DUMP TIMEOUT (10000ms) EXPIRED ***\n"
    result = parse_dumpsys_appops(concatenated(section))
    assert result.error is not None and "TIMEOUT" in result.error


# ------------------------------------------------------------------------------ cmd appops get
def test_get_p_package_ops() -> None:
    result = parse_appops_get(
        "TAKE_AUDIO_FOCUS: allow; time=+246d13h1m23s611ms ago\n"
        "WAKE_LOCK: allow; time=+1h53m3s642ms ago; duration=+1s89ms\n"
        "WRITE_SETTINGS: deny; rejectTime=+1d23h58m4s341ms ago\n"
        "CHANGE_WIFI_STATE: ignore; time=+10d2h57m2s982ms ago; rejectTime=+5d17h1m29s283ms ago\n"
        "SYSTEM_ALERT_WINDOW: deny\n"
        "OP_READ_PHONE_STATE: allow; time=+10d5h52m12s884ms ago\n"
        "CAMERA: allow; time=+4s0ms ago (running)\n"
    )
    assert (result.error, result.warnings) == (None, ())
    by_op = {e.op: e for e in result.value}
    assert {e.scope for e in result.value} == {"package"}
    assert by_op["TAKE_AUDIO_FOCUS"].accesses == (OpAccess("", relative_ms=-21_301_283_611),)
    assert by_op["WAKE_LOCK"].duration_ms == 1_089
    assert by_op["WRITE_SETTINGS"].mode == "deny"
    assert [a.rejected for a in by_op["CHANGE_WIFI_STATE"].accesses] == [False, True]
    assert by_op["SYSTEM_ALERT_WINDOW"].accesses == ()
    assert "READ_PHONE_STATE" in by_op
    assert (by_op["CAMERA"].running, by_op["CAMERA"].duration_ms) == (True, None)


def test_get_uid_mode_scopes() -> None:
    result = parse_appops_get(
        "Uid mode: COARSE_LOCATION: ignore\n"
        "FINE_LOCATION: ignore\n"
        "CAMERA: ignore\n"
        "MANAGE_ONGOING_CALLS: default; rejectTime=+58m39s6ms ago\n"
        "SYSTEM_ALERT_WINDOW: deny\n"
    )
    assert [(e.op, e.scope) for e in result.value] == [
        ("COARSE_LOCATION", "uid"),
        ("FINE_LOCATION", "uid_or_package"),  # the text cannot tell
        ("CAMERA", "uid_or_package"),
        ("MANAGE_ONGOING_CALLS", "package"),  # uid modes carry no times
        ("SYSTEM_ALERT_WINDOW", "package"),
    ]


def test_get_one_op_in_both_scopes() -> None:
    result = parse_appops_get("Uid mode: CAMERA: ignore\nCAMERA: allow\n")
    assert [(e.op, e.mode, e.scope) for e in result.value] == [
        ("CAMERA", "ignore", "uid"),
        ("CAMERA", "allow", "package"),  # an op listed again: the package list began
    ]


@pytest.mark.parametrize("text", ["No operations.\n", "No operations.\nDefault mode: allow\n"])
def test_get_no_operations(text: str) -> None:
    assert parse_appops_get(text) == Parsed(())


@pytest.mark.parametrize(
    "text",
    [
        "Error: No UID for com.nope in user 0\n",
        "Unknown operation string: NOPE\n",
        "java.lang.SecurityException: uid 2000 does not have android.permission.X\n",
        "",
    ],
)
def test_get_failures_are_errors(text: str) -> None:
    result = parse_appops_get(text)
    assert result.error is not None
    assert result.value == ()


def test_get_bad_and_cut_lines() -> None:
    text = "CAMERA: allow\nCAMERA allow\nWAKE_LOCK: allow; time=+5s ago\nRECORD_AUDIO: allow; ti"
    result = parse_appops_get(text)
    assert [e.op for e in result.value] == ["CAMERA"]
    assert [(w.line_no, w.reason) for w in result.warnings] == [
        (2, "not 'OP: mode'"),
        (3, "time= not understood"),
        (4, "unexpected field 'ti'"),
    ]
    assert result.error is not None and "cut off" in result.error


# ------------------------------------------------------------------------------ construction
def test_fast_construction_matches_the_dataclass_constructor() -> None:
    # The parser fills __dict__ directly where the model allows it: same records either way.
    assert appops._FAST_ACCESS and appops._FAST_ENTRY
    fast = appops._make_access("top", "s", "t", -5, 1, True, "tag", 1000, "android", None)
    slow = OpAccess("top", "s", "t", -5, 1, True, "tag", 1000, "android", None)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.flags = "x"  # type: ignore[misc]
    entry = appops._make_entry("CAMERA", "allow", None, None, [slow], [("t", 5, 2)], None, 0)
    assert entry == AppOpEntry(
        "CAMERA", "allow", accesses=(slow,), running=True, running_for_ms=5, nesting=2,
        runs=(OpRun("t", 5, 2),),
    )  # fmt: skip


@pytest.mark.parametrize("text", [P_DUMP, Q_DUMP, R_DUMP])
def test_slow_construction_path_gives_the_same_result(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = parse_dumpsys_appops(text)
    monkeypatch.setattr(appops, "_FAST_ACCESS", False)
    monkeypatch.setattr(appops, "_FAST_ENTRY", False)
    assert parse_dumpsys_appops(text) == fast


# ------------------------------------------------------------------------------ totality
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" \n\t[]()=:;+-_.,|ACRSUdhmsua0159\x00\x1b"))))
def test_any_text_never_raises(text: str) -> None:
    for result in (parse_dumpsys_appops(HEADER + text), parse_dumpsys_appops(text)):
        assert isinstance(result.value, AppOpsDump)
        assert result.error is None or not result.error.startswith("internal")
    got = parse_appops_get(text)
    assert got.error is None or not got.error.startswith("internal")


# ------------------------------------------------------------------------------ fast paths
# The parser reads the usual lines in a fast lane and builds records through same-slot
# builders; both must give exactly what the general dispatch and the constructors give.
def test_uid_records_are_built_like_the_constructor() -> None:
    assert appops._FAST_UID
    entry = AppOpEntry("CAMERA", "allow")
    fast = appops._uid_ops(10005, "cch", "LCMN", {"CAMERA": "ignore"}, {"a": [entry]}, {})
    slow = model.UidOps(
        10005,
        "cch",
        "LCMN",
        MappingProxyType({"CAMERA": "ignore"}),
        MappingProxyType({"a": (entry,)}),
    )
    assert fast == slow and repr(fast) == repr(slow) and type(fast) is model.UidOps
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.uid = 0  # type: ignore[misc]
    for record in (fast, entry, appops._make_access("top", "s", None, 0, None, False, *[None] * 4)):
        assert not hasattr(record, "__dict__")  # slotted: one allocation per record


def test_builders_refuse_a_record_of_another_layout() -> None:
    assert not appops._retypable(appops._AccessSlots, AppOpEntry)  # other fields
    assert not appops._retypable(appops._EntrySlots, Parsed)  # not slotted
    assert not appops._retypable(appops._UidSlots, int)  # not a dataclass


BARE_DUMP = dump(
    """
      Uid u0a5:
        state=cch
        Package com.a:
          READ_EXTERNAL_STORAGE (allow):
          WRITE_EXTERNAL_STORAGE (allow):
          OP_CAMERA (ignore):
        Package com.b:
          READ_EXTERNAL_STORAGE (allow):
          WRITE_EXTERNAL_STORAGE (deny):
          CAMERA (ignore):
              Access: [top-s] 2024-01-01 10:00:00.000 (-5s0ms)
          OP_CAMERA (ignore):
              startNesting=1
          OP_CAMERA (ignore):
              duration=+5ms
          CAMERA (ignore):
      Uid u0a6:
        Package com.c:
          READ_EXTERNAL_STORAGE (allow):
    """
)


def test_bare_ops_are_one_shared_record_per_value() -> None:
    result = parse_dumpsys_appops(BARE_DUMP)
    assert (result.error, result.warnings) == (None, ())
    a, b, c = (result.value.ops_of(p) for p in ("com.a", "com.b", "com.c"))
    assert a[0] is b[0] is c[0]  # READ_EXTERNAL_STORAGE (allow), in two uid blocks
    assert a[1] != b[1]  # another mode, another value
    assert a[2] != b[2] and b[2].accesses  # an op with history is its own record
    assert a[2] == AppOpEntry("CAMERA", "ignore")
    assert b[3:] == (
        AppOpEntry("CAMERA", "ignore", nesting=1),
        AppOpEntry("CAMERA", "ignore", duration_ms=5),
        a[2],
    )
    assert b[5] is a[2]


@pytest.mark.parametrize(
    "text", [P_DUMP, Q_DUMP, R_DUMP, BARE_DUMP, P_DUMP + P_DUMP, Q_DUMP.replace("\n", "\r\n")]
)
def test_general_dispatch_and_constructors_give_the_same_result(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = parse_dumpsys_appops(text)
    for flag in ("_FAST_ACCESS", "_FAST_ENTRY", "_FAST_UID", "_FAST_LANE"):
        monkeypatch.setattr(appops, flag, False)
    assert parse_dumpsys_appops(text) == fast


@pytest.mark.parametrize("text", ["+1\u0661ms", "-\u0661d0h0m0s0ms", "+2\u0663s0ms", "+\uff15ms"])
def test_parse_duration_refuses_other_scripts_digits(text: str) -> None:
    # formatDuration prints ASCII digits only; \d would take these, and a field's table has
    # no entry for them.
    assert parse_duration(text) is None


def test_other_scripts_digits_in_a_relative_time_are_a_warning() -> None:
    text = dump(
        """
          Uid 1000:
            Package android:
              CAMERA (allow):
                  Access: [top-s] 2024-01-01 10:00:00.000 (-1\u0661ms)
                  Access: pers  = 2024-01-01 10:00:00.000 (-1\u0661d0h0m0s0ms)
        """
    )
    result = parse_dumpsys_appops(text)
    assert result.error is None
    assert [w.reason for w in result.warnings] == [
        "relative time is not TimeUtils.formatDuration text"
    ] * 2


def test_a_thousand_days_and_more() -> None:
    for days in (999, 1000, 123_456):
        ms = -(days * 86_400_000 + 1)
        text = dump(
            f"""
              Uid 1000:
                Package android:
                  CAMERA (allow):
                      Access: pers  = t ({format_duration(ms)})
                      Reject: [bg-s]t ({format_duration(ms)})
            """
        )
        (camera,) = parse_dumpsys_appops(text).value.ops_of("android")
        assert [a.relative_ms for a in camera.accesses] == [ms, ms]


# Access records rendered in the exact shapes P and Q+ print, from fields drawn here: the
# parser must give back those very fields.
STATES = ["pers", "top", "fgsvcl", "fgsvc", "fg", "bg", "cch"]


@st.composite
def access_records(draw: st.DrawFn) -> tuple[str, OpAccess]:
    p_format = draw(st.booleans())
    state = draw(st.sampled_from(STATES))
    rejected = draw(st.booleans())
    time = draw(st.sampled_from(["2026-08-09 10:40:07.177", "2024-01-01 00:00:00.000", "x"]))
    relative = draw(st.integers(min_value=-(10**12), max_value=10**12))
    keyword = "Reject: " if rejected else "Access: "
    if p_format:
        line = f"{keyword}{state:5s} = {time} ({format_duration(relative)})"
        return line, OpAccess(state, "", time, relative, rejected=rejected)
    flags = draw(st.sampled_from(["s", "tp", "s|tp", "tpd", "upd"]))
    space = "" if rejected else " "
    line = f"{keyword}[{state}-{flags}]{space}{time} ({format_duration(relative)})"
    duration = draw(st.none() | st.integers(min_value=0, max_value=10**9))
    if duration is not None:
        line += f" duration={format_duration(duration)}"
    proxy = draw(st.none() | st.tuples(st.integers(0, 99_999), st.sampled_from(["android", None])))
    if proxy is None:
        return line, OpAccess(state, flags, time, relative, duration, rejected)
    line += f" proxy[uid={proxy[0]}, pkg={proxy[1] or 'null'}]"
    return line, OpAccess(state, flags, time, relative, duration, rejected, None, *proxy)


@settings(max_examples=200, deadline=None)
@given(st.lists(access_records(), min_size=1, max_size=6))
def test_access_records_round_trip(records: list[tuple[str, OpAccess]]) -> None:
    body = "".join(f"          {line}\n" for line, _ in records)
    text = f"{HEADER}  Uid 1000:\n    Package android:\n      CAMERA (allow): \n{body}"
    result = parse_dumpsys_appops(text)
    assert (result.error, result.warnings) == (None, ())
    (camera,) = result.value.ops_of("android")
    assert camera.accesses == tuple(record for _, record in records)


# Near misses of the lines the fast lane reads: indentation off by one or a tab, trailing
# blanks, other endings, keywords where a uid state is due, durations formatDuration never
# prints, parentheses in the time... The fast lane must read each exactly as the general
# dispatch does (which warns about most of them).
def _indent(draw: st.DrawFn, width: int) -> str:
    shift = draw(st.sampled_from([0, 0, 0, 0, 0, 0, -1, 1, 2, 4, 8]))
    tab = draw(st.sampled_from(["", "", "", "", "\t"]))
    return " " * max(0, width + shift) + tab


@st.composite
def near_miss_dumps(draw: st.DrawFn) -> str:
    duration = st.sampled_from(
        ["-5s0ms", "+1d2h3m4s5ms", "0", "-1000d0h0m0s1ms", "+0ms", "+61s0ms", "x", "", "-5s0ms)"]
    )
    state = st.sampled_from(["pers ", "top  ", "cch  ", "fg", "x=y", "a[b", "Access:", "", "p q"])
    time = st.sampled_from(["2024-01-01 10:00:00.000", "t", "", "a(b", "a)b"])
    tail = st.sampled_from(
        ["", "", "", " ", "\t", ")", " duration=+5ms", " proxy[uid=0, pkg=null]"]
    )
    lines = [HEADER.rstrip("\n")]
    for _ in range(draw(st.integers(1, 2))):
        lines.append(f"  Uid {draw(st.sampled_from(['1000', 'u0a5', 'u0ai2']))}:")
        lines.append("    state=cch")
        for _ in range(draw(st.integers(0, 2))):
            name = draw(st.sampled_from(["a", "com.x", "a b", ""]))
            end = draw(st.sampled_from([":", ":", ": ", ""]))
            lines.append(f"{_indent(draw, 4)}Package {name}{end}")
            for _ in range(draw(st.integers(0, 3))):
                op = draw(st.sampled_from(["CAMERA", "OP_CAMERA", "OP_", "A B", "Unknown(1)"]))
                mode = draw(
                    st.sampled_from(["allow", "ignore", "4", "zz", "allow / switch X=deny"])
                )
                end = draw(st.sampled_from(["):", "): ", "):  ", ")", "):\t"]))
                lines.append(f"{_indent(draw, 6)}{op} ({mode}{end}")
                grouped = draw(st.booleans())
                if grouped:
                    lines.append(f"{_indent(draw, 8)}{draw(st.sampled_from(['null', 'tag']))}=[")
                for _ in range(draw(st.integers(0, 3))):
                    keyword = draw(st.sampled_from(["Access: ", "Reject: "]))
                    if draw(st.booleans()):
                        body = f"{draw(state)} = {draw(time)} ({draw(duration)}){draw(tail)}"
                    else:
                        flags = draw(st.sampled_from(["s", "tp", "", "-"]))
                        body = f"[{draw(state).strip()}-{flags}] {draw(time)} ({draw(duration)})"
                        body += draw(tail)
                    lines.append(f"{_indent(draw, 10)}{keyword}{body}")
                    for _ in range(draw(st.integers(0, 2))):
                        again = f"{draw(state)} = {draw(time)} ({draw(duration)}){draw(tail)}"
                        lines.append(f"{_indent(draw, 18)}{again}")
                extra = ["", "Running start at: +5s0ms", "duration=+17ms", "startNesting=2"]
                if line := draw(st.sampled_from(extra)):
                    lines.append(f"{_indent(draw, 10)}{line}")
                if grouped and draw(st.booleans()):
                    lines.append(f"{_indent(draw, 8)}]")
    return "\n".join(lines) + draw(st.sampled_from(["\n", "\n", ""]))


@settings(max_examples=300, deadline=None)
@given(near_miss_dumps())
def test_fast_lane_reads_near_misses_as_the_general_dispatch(text: str) -> None:
    fast = parse_dumpsys_appops(text)
    assert fast.error is None or not fast.error.startswith("internal")
    try:
        appops._FAST_LANE = False
        general = parse_dumpsys_appops(text)
    finally:
        appops._FAST_LANE = True
    assert fast == general


NEAR_MISS_BODIES = [
    "Access: pers  = t (-5s0ms)",
    "Reject: [bg-s]t (-5s0ms) duration=+5ms",
    "fg    = t (-5s0ms)",
    "fg    = t (-5s0ms) duration=+5ms",
    "fg    = t (-5s0ms) proxy[uid=0, pkg=null]",
    "fg    = t (-5s0ms))",
    "fg    = a(b (-5s0ms)",
    "fg    = a)b (-5s0ms)",
    "fg    = t (+0ms)",
    "fg    = t (-1000d0h0m0s0ms)",
    "fg = t (0)",
    "x=y = t (0)",
    "a[b = t (0)",
    "[bg-s] t (0)",
    "Access: = t (-5s0ms)",
    "Reject: = t (-5s0ms)",
    "Access:  = t (-5s0ms)",
    "Access: ",
    "Access:",
    "CAMERA (allow):",
    "CAMERA (allow): ",
    "CAMERA (allow):  ",
    "CAMERA (allow):\t",
    "CAMERA (allow)",
    "CAMERA (zz):",
    "CAMERA (allow / switch COARSE_LOCATION=allow):",
    "OP_CAMERA (4): ",
    "OP_ (allow):",
    "A B (allow):",
    " (allow):",
    "Unknown(7) (allow):",
    "Package x:",
    "Package x: ",
    "Package :",
    "Package",
    "tag=[",
    "]",
    "Running start at: +5s0ms",
    "duration=+17ms",
    "startNesting=2",
    "state=cch",
    "?",
    "",
]


@pytest.mark.parametrize("body", NEAR_MISS_BODIES)
def test_fast_lane_reads_each_near_miss_as_the_general_dispatch(
    body: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each line at every indentation near the lane's, after an access record (so that a P
    # continuation is due), after an op without one, and right after a package line.
    for prefix in [" " * n for n in (*range(3, 13), 14, 17, 18, 19, 20)] + ["      \t", "\t"]:
        line = prefix + body
        text = dump(
            f"""
              Uid 1000:
                state=pers
                Package a:
                  CAMERA (allow):
                      Access: pers  = t (-5s0ms)
            {line}
                  WAKE_LOCK (allow):
            {line}
                  OP_WAKE_LOCK (allow):
                    null=[
                      Reject: [top-s]t (-1s0ms)
            {line}
                    ]
                Package b:
            {line}
                  CAMERA (allow):
            """
        )
        fast = parse_dumpsys_appops(text)
        monkeypatch.setattr(appops, "_FAST_LANE", False)
        general = parse_dumpsys_appops(text)
        monkeypatch.setattr(appops, "_FAST_LANE", True)
        assert fast == general, repr(line)
