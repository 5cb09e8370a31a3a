"""cli/errors.describe_os_error: an OSError in one line, with what to do."""

from __future__ import annotations

import errno

from hood.cli.errors import describe_os_error


def _say(code: int, filename: str | None = None) -> str:
    exc = OSError(code, __import__("os").strerror(code), *([filename] if filename else []))
    return describe_os_error(exc, root="/var/lib/hood", command="ps")


def test_permission_inside_the_data_root():
    text = _say(errno.EACCES, "/var/lib/hood/containers")
    assert text.startswith("cannot use /var/lib/hood/containers: permission denied (")
    assert "Errno" not in text and "--root" in text


def test_permission_elsewhere_and_without_a_file():
    assert "sudo" in _say(errno.EACCES, "/etc/shadow")
    text = _say(errno.EPERM)
    assert text.startswith("hood ps: operation not permitted (") and "root" in text


def test_other_errors_say_what_to_do():
    assert "read-only" in _say(errno.EROFS, "/var/lib/hood/x")
    assert "does not exist" in _say(errno.ENOENT, "/nope")
    assert "ulimit" in _say(errno.EMFILE)
    assert "--debug" in _say(errno.EBUSY, "/var/lib/hood/x")
    assert "Errno" not in _say(errno.EBUSY)
    assert "dmesg" in _say(errno.EIO, "/var/lib/hood/x")  # a failing disk, in words


def test_a_bug_is_one_line_unless_its_traceback_is_asked_for(monkeypatch, tmp_path, capsys):
    """An exception no handler expected: one `Error: unexpected …` line and exit 1 for a
    user; with HOOD_TRACEBACK (the suite sets it) or --debug, the traceback."""
    import pytest

    import hood.services.image_views as views
    from hood.cli.main import main

    def broken(*_a, **_k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(views, "image_rows", broken)
    monkeypatch.delenv("HOOD_TRACEBACK", raising=False)
    assert main(["--root", str(tmp_path), "images"]) == 1
    err = capsys.readouterr().err
    assert err == "Error: unexpected ZeroDivisionError: division by zero (a bug in hood; --debug shows where)\n"
    monkeypatch.setenv("HOOD_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        main(["--root", str(tmp_path), "images"])
    monkeypatch.delenv("HOOD_TRACEBACK")
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "--root", str(tmp_path), "images"])
