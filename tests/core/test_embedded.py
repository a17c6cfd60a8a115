"""The embedded server's system user (as root): a system account that cannot log in."""

from __future__ import annotations

import pwd
import subprocess
from typing import Any

import pytest

from fleetcore.core import embedded


def _entry(shell: str) -> pwd.struct_passwd:
    return pwd.struct_passwd((embedded.SYSTEM_USER, "x", 990, 990, "", "/nonexistent", shell))


def test_the_server_user_is_created_as_a_system_account_without_a_login_shell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[list[str]] = []

    def getpwnam(name: str) -> pwd.struct_passwd:
        if not created:
            raise KeyError(name)
        return _entry(created[0][created[0].index("--shell") + 1])

    def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        created.append(args)
        return subprocess.CompletedProcess(args, 0, b"", b"")

    monkeypatch.setattr(pwd, "getpwnam", getpwnam)
    monkeypatch.setattr(subprocess, "run", run)
    assert embedded._ensure_system_user() == (990, 990)
    [argv] = created
    assert argv[0] == "useradd"
    assert argv[-1] == embedded.SYSTEM_USER
    assert "--system" in argv
    assert "--no-create-home" in argv
    shell = argv[argv.index("--shell") + 1]
    assert shell.endswith(("/nologin", "/false"))


def test_an_existing_login_user_keeps_its_uid_and_loses_its_shell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(pwd, "getpwnam", lambda name: _entry("/bin/sh"))
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append(args))
    assert embedded._ensure_system_user() == (990, 990)
    [argv] = calls
    assert argv[:2] == ["usermod", "--shell"]
    assert argv[-1] == embedded.SYSTEM_USER


def test_an_existing_system_user_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(pwd, "getpwnam", lambda name: _entry(embedded._nologin_shell()))
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append(args))
    assert embedded._ensure_system_user() == (990, 990)
    assert calls == []
