"""On X11, a missing library of Qt's xcb plugin is named, with its Debian package, instead of Qt
aborting the process; and the setup script installs every one of them."""

from __future__ import annotations

import argparse
import sys

import pytest

from app.gui import launch
from app.gui.platform_check import (
    XCB_LIBRARIES,
    missing_xcb_libraries,
    uses_xcb,
    xcb_plugin,
)

pytestmark = pytest.mark.fault
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 libraries")


@pytest.mark.parametrize(
    ("env", "platform", "expected"),
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, "linux", False),
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "darwin", False),
    ],
)
def test_uses_xcb(env: dict[str, str], platform: str, expected: bool) -> None:
    assert uses_xcb(env, platform) is expected


@linux_only
@pytest.mark.parametrize("library", sorted(XCB_LIBRARIES))
def test_setup_installed_each_library_of_the_xcb_plugin(library: str) -> None:
    import ctypes

    ctypes.CDLL(library)  # raises OSError naming it when scripts/setup missed its package


@linux_only
def test_the_xcb_plugin_loads() -> None:
    assert xcb_plugin().is_file()
    assert missing_xcb_libraries() == []


def test_missing_libraries_are_listed_all_at_once() -> None:
    absent = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}

    def loader(name: str) -> object:
        if name.endswith("libqxcb.so") or name in absent:
            raise OSError(f"{name}: cannot open shared object file")
        return object()

    assert set(missing_xcb_libraries(loader)) == absent


def test_gui_names_the_packages_instead_of_aborting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(launch, "has_display", lambda: True)
    monkeypatch.setattr("app.gui.platform_check.uses_xcb", lambda: True)
    monkeypatch.setattr(
        "app.gui.platform_check.missing_xcb_libraries", lambda: ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    )
    assert launch.run(argparse.Namespace(bundle=None, db=None)) == 2
    err = capsys.readouterr().err
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in err and "Traceback" not in err
