"""hood's command-line parser (cli/command_line.py) reads argv as docker's CLI (cobra + pflag) does:
every accepted form, every error, docker's wording and exit statuses."""

from __future__ import annotations

import pytest

from hood.cli import help_text
from hood.cli.command_line import parse
from hood.cli.flag_values import go_quote
from hood.cli.flags import Command, Flag, Help, UsageError

F = Flag


def _cmd(interspersed: bool = True, params=("image", "args*")) -> Command:
    return Command(
        "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "Do things",
        [
            F("detach", "d", help="Run in background"),
            F("interactive", "i", help="Keep STDIN open"),
            F("tty", "t", help="Allocate a pseudo-TTY"),
            F("name", kind="str", help="Assign a name"),
            F("env", "e", kind="list", help="Set environment variables"),
            F("hostname", "h", kind="str", help="Host name"),
            F("last", "n", kind="int", default=-1, help="Show n last"),
            F("cpus", kind="float", help="CPUs"),
            F("label", "l", kind="map", help="Labels"),
            F("filter", "f", kind="filter", help="Filter"),
            F("network", kind="str", default="host", choices=("host", "none"), help="Network"),
            F("net", kind="str", dest="network", choices=("host", "none"), hidden=True),
        ],
        params,
        None,
        interspersed=interspersed,
        settings={"extra": 1},
    )


def _parse(*argv: str, interspersed: bool = False, params=("image", "args*")):
    return parse(_cmd(interspersed, params), list(argv), "run")


def test_defaults_and_settings():
    a = _parse("img")
    assert (a.detach, a.name, a.env, a.last, a.cpus, a.label, a.filter, a.network) == (
        False, None, [], -1, None, {}, [], "host",
    )  # fmt: skip
    assert a.image == "img" and a.args == [] and a.extra == 1 and a.command_path == "run"


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["-d", "img"], {"detach": True}),
        (["--detach", "img"], {"detach": True}),
        (["--detach=false", "img"], {"detach": False}),
        (["-d=0", "img"], {"detach": False}),
        (["-dit", "img"], {"detach": True, "interactive": True, "tty": True}),
        (["-it=false", "img"], {"interactive": True, "tty": False}),
        (["--name", "web", "img"], {"name": "web"}),
        (["--name=web", "img"], {"name": "web"}),
        (["--name=", "img"], {"name": ""}),
        (["--name", "-x", "img"], {"name": "-x"}),  # pflag takes a value that looks like a flag
        (["-e", "A=1", "-eB=2", "-e=C=3", "--env", "D", "--env=E=", "img"],
         {"env": ["A=1", "B=2", "C=3", "D", "E="]}),
        (["-ie", "A=1", "img"], {"interactive": True, "env": ["A=1"]}),
        (["-ieA=1", "img"], {"interactive": True, "env": ["A=1"]}),
        (["-h", "box", "img"], {"hostname": "box"}),  # a command's own -h is not help
        (["-n", "0x10", "img"], {"last": 16}),
        (["-n", "010", "img"], {"last": 8}),  # Go: a leading 0 is octal
        (["-n=-1", "img"], {"last": -1}),
        (["--last", "1_000", "img"], {"last": 1000}),
        (["--cpus", "1.5", "img"], {"cpus": 1.5}),
        (["--cpus=1e3", "img"], {"cpus": 1000.0}),
        (["-l", "a=1", "--label", "b", "-l", "a=2", "img"], {"label": {"a": "2", "b": ""}}),
        (["-f", " Status = exited ", "--filter=name=a=b", "-f", "", "img"],
         {"filter": [("status", "exited"), ("name", "a=b")]}),
        (["--network", "none", "img"], {"network": "none"}),
        (["--net=none", "img"], {"network": "none"}),
    ],
)  # fmt: skip
def test_accepted_forms(argv, want):
    a = _parse(*argv)
    assert {k: getattr(a, k) for k in want} == want
    assert a.image == "img"


def test_arguments_stop_at_the_first_one_when_not_interspersed():
    a = _parse("-d", "img", "echo", "-d", "--name", "x", "--", "y")
    assert (a.detach, a.name, a.image, a.args) == (
        True,
        None,
        "img",
        ["echo", "-d", "--name", "x", "--", "y"],
    )


def test_interspersed_arguments_and_double_dash():
    a = _parse("a", "-d", "b", "--name", "n", "c", interspersed=True)
    assert (a.detach, a.name, a.image, a.args) == (True, "n", "a", ["b", "c"])
    a = _parse("-d", "--", "-i", "--name", interspersed=True)
    assert (a.detach, a.interactive, a.image, a.args) == (True, False, "-i", ["--name"])
    a = _parse("-", "-d", interspersed=True)  # "-" alone is an argument
    assert (a.image, a.detach) == ("-", True)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--foo", "img"], "unknown flag: --foo"),
        (["--foo=1", "img"], "unknown flag: --foo"),
        (["-x", "img"], "unknown shorthand flag: 'x' in -x"),
        (["-dxi", "img"], "unknown shorthand flag: 'x' in -xi"),
        (["--name"], "flag needs an argument: --name"),
        (["-e"], "flag needs an argument: 'e' in -e"),
        (["-ie"], "flag needs an argument: 'e' in -e"),
        (["--=x", "img"], "bad flag syntax: --=x"),
        (["---x", "img"], "bad flag syntax: ---x"),
        (["-d=x", "img"], 'invalid argument "x" for "-d, --detach" flag: '
         'strconv.ParseBool: parsing "x": invalid syntax'),
        (["--detach=", "img"], 'invalid argument "" for "-d, --detach" flag: '
         'strconv.ParseBool: parsing "": invalid syntax'),
        (["-n", "x", "img"], 'invalid argument "x" for "-n, --last" flag: '
         'strconv.ParseInt: parsing "x": invalid syntax'),
        (["-n", "1.5", "img"], 'invalid argument "1.5" for "-n, --last" flag: '
         'strconv.ParseInt: parsing "1.5": invalid syntax'),
        (["-n", "08", "img"], 'invalid argument "08" for "-n, --last" flag: '
         'strconv.ParseInt: parsing "08": invalid syntax'),
        (["-n", "99999999999999999999", "img"], 'invalid argument "99999999999999999999" for '
         '"-n, --last" flag: strconv.ParseInt: parsing "99999999999999999999": value out of range'),
        (["--cpus", "x", "img"], 'invalid argument "x" for "--cpus" flag: '
         'strconv.ParseFloat: parsing "x": invalid syntax'),
        (["-f", "nameonly", "img"], 'invalid argument "nameonly" for "-f, --filter" flag: '
         "bad format of filter (expected name=value)"),
        (["--network", "bridge", "img"], 'invalid argument "bridge" for "--network" flag: '
         'must be one of "host", "none"'),
        (["--help=maybe", "img"], 'invalid argument "maybe" for "--help" flag: '
         'strconv.ParseBool: parsing "maybe": invalid syntax'),
    ],
)  # fmt: skip
def test_flag_errors_as_docker_words_them(argv, message):
    with pytest.raises(UsageError) as info:
        _parse(*argv)
    assert info.value.status == 125
    assert str(info.value) == (
        f"{message}\n\nUsage:  hood run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
        "Run 'hood run --help' for more information"
    )


@pytest.mark.parametrize(
    ("params", "count", "message", "see"),
    [
        ((), 1, "accepts no arguments", "Run"),
        (("image",), 0, "requires 1 argument", "Run"),
        (("a", "b"), 1, "requires 2 arguments", "Run"),
        (("image", "args*"), 0, "requires at least 1 argument", "See"),
        (("a", "b", "c+"), 1, "requires at least 3 arguments", "See"),
        (("a?",), 2, "requires at most 1 argument", "Run"),
        (("a", "b?", "c?"), 4, "requires at least 1 and at most 3 arguments", "Run"),
    ],
)
def test_argument_counts_as_docker_validates_them(params, count, message, see):
    with pytest.raises(UsageError) as info:
        _parse(*["x"] * count, params=params)
    assert info.value.status == 1
    assert str(info.value) == (
        f"hood: 'hood run' {message}\n\nUsage:  hood run [OPTIONS] IMAGE [COMMAND] [ARG...]"
        f"\n\n{see} 'hood run --help' for more information"
    )


def test_argument_binding():
    a = _parse("a", "b", params=("a", "b?", "c?"))
    assert (a.a, a.b, a.c) == ("a", "b", None)
    a = _parse("a", "b", "c", "d", params=("a", "rest+"))
    assert (a.a, a.rest) == ("a", ["b", "c", "d"])


@pytest.mark.parametrize("argv", [["--help"], ["--help=true"], ["img", "--help"], ["-dh"]])
def test_help(argv):
    cmd = _cmd(True)
    cmd.flags = [f for f in cmd.flags if f.short != "h"]
    with pytest.raises(Help) as info:
        parse(cmd, argv, "run")
    assert info.value.text.startswith("Usage:  hood run [OPTIONS] IMAGE [COMMAND] [ARG...]\n")


def test_help_false_and_help_after_the_image():
    assert _parse("--help=false", "img").image == "img"
    assert _parse("img", "--help").args == ["--help"]  # not interspersed: the command's


def test_help_errors_win_over_help():
    with pytest.raises(UsageError):
        _parse("--help", "--foo")


def test_help_text_layout(monkeypatch):
    monkeypatch.setattr(help_text, "terminal_width", lambda: 80)
    cmd = _cmd()
    cmd.aliases = ("container run", "run")
    cmd.examples = "  $ hood run img"
    text = help_text.help_text(cmd, "run")
    assert text == (
        "Usage:  hood run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
        "Do things\n\n"
        "Aliases:\n  hood container run, hood run\n\n"
        "Examples:\n  $ hood run img\n\n"
        "Options:\n"
        "      --cpus float        CPUs\n"
        "  -d, --detach            Run in background\n"
        "  -e, --env list          Set environment variables\n"
        "  -f, --filter filter     Filter\n"
        "  -h, --hostname string   Host name\n"
        "  -i, --interactive       Keep STDIN open\n"
        "  -l, --label map         Labels\n"
        "  -n, --last int          Show n last (default -1)\n"
        "      --name string       Assign a name\n"
        '      --network string    Network (default "host")\n'
        "  -t, --tty               Allocate a pseudo-TTY\n"
    )


# `docker ps --help` of docker CLI 28.2.2, Options section, at 80 columns: pflag's wrapping.
DOCKER_PS_OPTIONS = """\
  -a, --all             Show all containers (default shows just running)
  -f, --filter filter   Filter output based on conditions provided
      --format string   Format output using a custom template:
                        'table':            Print output in table format
                        with column headers (default)
                        'table TEMPLATE':   Print output in table format
                        using the given Go template
                        'json':             Print in JSON format
                        'TEMPLATE':         Print output using the given
                        Go template.
                        Refer to https://docs.docker.com/go/formatting/
                        for more information about formatting output with
                        templates
  -n, --last int        Show n last created containers (includes all
                        states) (default -1)
  -l, --latest          Show the latest created container (includes all
                        states)
      --no-trunc        Don't truncate output
  -q, --quiet           Only display container IDs
  -s, --size            Display total file sizes
"""


def test_wrapping_is_pflags():
    from hood.cli.ps_cmd import COMMANDS

    assert help_text.flag_usages(COMMANDS["ps"]().flags, 79) == DOCKER_PS_OPTIONS


def test_go_quote():
    assert go_quote('a"b\\c\n\x01é\u200b') == '"a\\"b\\\\c\\n\\x01é\\u200b"'
