"""docker's --filter arguments (services/filters.py) match as moby's filters.Args does."""

from __future__ import annotations

import pytest

from hood.services.filters import Filters, InvalidFilter, path_match


def test_values_are_sets_and_validated():
    f = Filters([("name", "a"), ("name", "a"), ("label", "x=1")])
    assert f.get("name") == ["a"] and f.contains("label") and not f.contains("id")
    f.validate(["name", "label"])
    with pytest.raises(InvalidFilter, match="^invalid filter 'label'$"):
        f.validate(["name"])


@pytest.mark.parametrize(
    ("values", "want"),
    [([], False), (["true"], True), (["1"], True), (["false"], False), (["0", "false"], False)],
)
def test_get_bool(values, want):
    assert Filters([("dangling", v) for v in values]).get_bool("dangling", False) is want


@pytest.mark.parametrize("values", [["maybe"], ["true", "false"], ["1", "0"]])
def test_get_bool_errors(values):
    with pytest.raises(InvalidFilter, match=r"^invalid filter 'dangling=\[.*\]'$"):
        Filters([("dangling", v) for v in values]).get_bool("dangling", False)


def test_match_is_exact_or_a_regular_expression_search():
    f = Filters([("name", "^web"), ("name", "db")])
    assert f.match("name", "web1") and f.match("name", "mydb2")
    assert not f.match("name", "cache")
    assert Filters().match("name", "anything")
    assert not Filters([("name", "(")]).match("name", "x(")  # a bad pattern matches nothing
    assert Filters([("name", "(")]).match("name", "(")  # but the exact text does


def test_match_kv_list():
    labels = {"a": "1", "b": ""}
    assert Filters([("label", "a"), ("label", "b=")]).match_kv_list("label", labels)
    assert not Filters([("label", "a=2")]).match_kv_list("label", labels)
    assert not Filters([("label", "c")]).match_kv_list("label", labels)
    assert not Filters([("label", "a")]).match_kv_list("label", None)
    assert Filters().match_kv_list("label", None)


@pytest.mark.parametrize(
    ("pattern", "name", "want"),
    [
        ("busybox", "busybox", True),
        ("busy*", "busybox", True),
        ("*", "library/busybox", False),  # * stops at /
        ("*/*", "library/busybox", True),
        ("b?sybox:lat*", "busybox:latest", True),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "dx", True),
        ("[^a-c]x", "bx", False),
        ("\\*", "*", True),
        ("localhost:5000/*", "localhost:5000/app", True),
    ],
)
def test_path_match(pattern, name, want):
    assert path_match(pattern, name) is want


@pytest.mark.parametrize("pattern", ["[", "[a-", "[]", "x\\", "[z-a]"])
def test_path_match_bad_pattern(pattern):
    with pytest.raises(InvalidFilter, match="^syntax error in pattern$"):
        path_match(pattern, "x")
