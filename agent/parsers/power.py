"""``dumpsys power`` -> :class:`~agent.model.PowerState`: is the screen on?

Detection asks this of an install or a permission change: one made while the screen was off
cannot have been the user's doing. ``PowerManagerService.dump`` prints, on every release from 9
to 15:

* ``  mWakefulness=Awake|Asleep|Dreaming|Dozing`` in ``Power Manager State:`` (the global
  wakefulness; 12+ also print it per display group further down, the first one wins);
* ``  mInteractive=true|false`` (older releases; newer ones drop it);
* ``Display Power: state=ON|OFF|DOZE|DOZE_SUSPEND|VR|ON_SUSPEND|UNKNOWN`` near the end;
* ``mScreenOn=true|false`` on pre-Lollipop-style OEM builds.

The screen counts as on for display states ``ON``, ``VR`` and ``ON_SUSPEND``; ``DOZE`` (always-on
display) is off for this purpose. Without a display line the wakefulness decides (``Awake`` and
``Dreaming`` light the screen), then ``mScreenOn``. This parser reads those few lines and skips
every other line of the dump on purpose (wake locks, settings, suspend blockers, battery
saver ...), so only an unknown value on one of the lines it reads is a warning; ``error`` is
set when none of them is present.
"""

from __future__ import annotations

from agent.model import Parsed, PowerState
from agent.parsers.sections import Warnings, lines_of

__all__ = ["parse_power"]

_ON_STATES = frozenset({"ON", "VR", "ON_SUSPEND"})
_OFF_STATES = frozenset({"OFF", "DOZE", "DOZE_SUSPEND"})
_AWAKE = frozenset({"Awake", "Dreaming"})
_ASLEEP = frozenset({"Asleep", "Dozing"})


def _bool(text: str) -> bool | None:
    return True if text == "true" else False if text == "false" else None


def parse_power(text: str) -> Parsed[PowerState]:
    """Parse ``dumpsys power`` (see the module docstring for what decides ``screen_on``).

    A value of one of the lines read that is not a known one is kept as printed (for
    ``wakefulness``/``display_state``) and reported as a warning.
    """
    warnings = Warnings()
    wakefulness: str | None = None
    display: str | None = None
    interactive: bool | None = None
    screen_on_line: bool | None = None
    for no, raw in enumerate(lines_of(text), 1):
        s = raw.strip()
        if wakefulness is None and s.startswith("mWakefulness="):
            wakefulness = s[13:] or None
            if wakefulness not in _AWAKE and wakefulness not in _ASLEEP:
                warnings.add(no, raw, "unknown wakefulness")
        elif display is None and s.startswith("Display Power: state="):
            display = s[21:] or None
            if display not in _ON_STATES and display not in _OFF_STATES and display != "UNKNOWN":
                warnings.add(no, raw, "unknown display state")
        elif interactive is None and s.startswith("mInteractive="):
            interactive = _bool(s[13:])
            if interactive is None:
                warnings.add(no, raw, "expected true or false")
        elif screen_on_line is None and s.startswith("mScreenOn="):
            screen_on_line = _bool(s[10:])
            if screen_on_line is None:
                warnings.add(no, raw, "expected true or false")
    screen_on: bool | None = None
    if display in _ON_STATES:
        screen_on = True
    elif display in _OFF_STATES:
        screen_on = False
    elif wakefulness in _AWAKE:
        screen_on = True
    elif wakefulness in _ASLEEP:
        screen_on = False
    elif screen_on_line is not None:
        screen_on = screen_on_line
    error = None
    if wakefulness is None and display is None and screen_on_line is None:
        error = "no mWakefulness=, Display Power: or mScreenOn= line"
    state = PowerState(
        screen_on=screen_on,
        wakefulness=wakefulness,
        display_state=display,
        interactive=interactive,
    )
    return Parsed(state, warnings.result(), error)
