"""Typed errors of the adb link, each with a message a person can act on.

Callers branch on the class (the CLI maps them to exit code 3, the engine marks a device
unavailable); people read ``str(error)``, which always says what happened and what to try.
"""

from __future__ import annotations


class AdbError(Exception):
    """Base of every error the adb link raises."""

    title = "adb error"

    def __init__(self, message: str, *, serial: str | None = None) -> None:
        super().__init__(message)
        self.serial = serial


class AdbServerUnavailable(AdbError):
    """No adb server answers on the configured address and none could be started."""

    title = "adb server unavailable"


class DeviceNotFound(AdbError):
    """The adb server does not know the serial (unplugged, or never connected)."""

    title = "device not found"


class DeviceUnauthorized(AdbError):
    """The phone has not accepted this computer's RSA key yet."""

    title = "device unauthorized"


class DeviceOffline(AdbError):
    """The device is known but not answering (offline, still connecting, or gone mid-command)."""

    title = "device offline"


class CommandTimeout(AdbError):
    """A command did not finish before its deadline; the command was cancelled on the device."""

    title = "command timed out"


class OutputTooLarge(AdbError):
    """A command printed more than the caller's cap; reading stopped, the command was cancelled."""

    title = "output too large"


class CommandFailed(AdbError):
    """A command ran and failed (non-zero exit), or the device refused to run it."""

    title = "command failed"

    def __init__(
        self,
        message: str,
        *,
        serial: str | None = None,
        exit_code: int | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message, serial=serial)
        self.exit_code = exit_code
        self.stderr = stderr


class InvalidArgument(AdbError, ValueError):
    """An argument failed validation before any command was sent."""

    title = "invalid argument"
