"""The adb server's device lists, parsed and diffed as pure text."""

from __future__ import annotations

from agent.adb.devices import DeviceEvent, diff_states, parse_devices_l, parse_track


def test_devices_l_real_server_lines() -> None:
    text = (
        "127.0.0.1:5600         device product:panther model:Pixel_7 device:panther "
        "transport_id:1\n"
        "R58M40ABCDE            unauthorized usb:1-1 transport_id:3\n"
        "emulator-5554          offline transport_id:4\n"
        "0123456789ABCDEF       no permissions (missing udev rules? user is in the plugdev group); "
        "see [http://developer.android.com/tools/device.html] usb:3-2 transport_id:5\n"
        "\n"
        "garbage\n"
    )
    infos = parse_devices_l(text)
    assert [(i.serial, i.state, i.transport) for i in infos] == [
        ("127.0.0.1:5600", "device", "tcp"),
        ("R58M40ABCDE", "unauthorized", "usb"),
        ("emulator-5554", "offline", "emulator"),
        ("0123456789ABCDEF", infos[3].state, "usb"),
    ]
    assert infos[0].model == "Pixel_7" and infos[0].transport_id == 1 and infos[0].online
    assert infos[3].state.startswith("no permissions (missing udev rules?")
    assert infos[1].usb == "1-1" and not infos[1].online


def test_track_message_and_diff() -> None:
    before = parse_track("a\tdevice\nb\tunauthorized\n")
    after = parse_track("b\tdevice\nc\toffline\n")
    events = list(diff_states(before, after))
    assert events == [
        DeviceEvent("a", None, "device"),
        DeviceEvent("b", "device", "unauthorized"),
        DeviceEvent("c", "offline", None),
    ]
    assert [e.kind for e in events] == ["gone", "connected", "offline"]
    assert list(diff_states(after, after)) == []
