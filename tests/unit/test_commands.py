"""The command table: every path resolves to a command its module defines, every command
and every option has help, and hood --help lists them grouped as docker does."""

from __future__ import annotations

import pytest

from hood.cli import commands, help_text, main


@pytest.mark.parametrize("key", sorted(commands.COMMANDS))
def test_every_command_is_defined_with_help(key):
    cmd = main.command(key)
    assert cmd.handler is not None and (cmd.short or cmd.long)
    for flag in cmd.flags:
        assert flag.hidden or flag.help, f"{key} --{flag.name} has no help"
    text = help_text.help_text(cmd, key)
    assert text.startswith(f"Usage:  hood {key} ")


@pytest.mark.parametrize("path", sorted(commands.PATHS))
def test_every_path_parses_help(path, capsys):
    assert main.main([*path.split(), "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"Usage:  hood {path} ")


def test_aliases_as_docker_lists_them():
    assert commands.aliases("ps") == ("container ls", "container list", "container ps", "ps")
    assert commands.aliases("images") == ("image ls", "image list", "images")
    assert commands.aliases("rmi") == ("image rm", "image remove", "rmi")
    assert commands.aliases("info") == ("system info", "info")
    assert commands.aliases("digests") == ()


def test_root_help_groups_commands(capsys):
    assert main.main(["--help"]) == 0
    out = capsys.readouterr().out
    sections = [line for line in out.splitlines() if line.endswith(":") and line[0] != " "]
    assert sections == ["Common Commands:", "Management Commands:", "Commands:", "Global Options:"]
    for group in commands.GROUPS:
        assert f"\n  {group.ljust(11)} {commands.GROUPS[group]}\n" in out
    assert main.main([]) == 0  # hood alone: the same, on stderr
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == out


def test_group_help_lists_each_subcommand_once(capsys):
    assert main.main(["container", "--help"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert names == sorted(set(names))
    assert "ls" in names and "list" not in names and "ps" not in names
    assert {
        "run",
        "create",
        "start",
        "stop",
        "kill",
        "logs",
        "prune",
        "export",
        "inspect",
        "rm",
    } <= set(names)
