from datetime import UTC, datetime, timedelta

import pytest

from hood.core.timefmt import (
    docker_timestamp,
    human_duration,
    human_size,
    parse_go_duration,
    parse_go_time,
    rfc3339_nano_fixed,
)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (999, "999B"),
        (1234, "1.23kB"),
        (5_570_000, "5.57MB"),
        (175_000_000, "175MB"),
        (1_200, "1.2kB"),
    ],
)
def test_human_size_like_go_units(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=0.5), "Less than a second"),
        (timedelta(seconds=1), "1 second"),
        (timedelta(seconds=59), "59 seconds"),
        (timedelta(seconds=90), "About a minute"),
        (timedelta(minutes=59), "59 minutes"),
        (timedelta(minutes=61), "About an hour"),
        (timedelta(hours=47), "47 hours"),
        (timedelta(days=3), "3 days"),
        (timedelta(days=15), "2 weeks"),
        (timedelta(days=90), "3 months"),
        (timedelta(days=800), "2 years"),
    ],
)
def test_human_duration_like_go_units(delta: timedelta, text: str) -> None:
    assert human_duration(delta) == text


def test_rfc3339nano_round_trip() -> None:
    for text in [
        "2023-05-18T22:34:17.429789678Z",
        "2020-01-01T00:00:00Z",
        "2021-02-03T04:05:06.1+02:00",
    ]:
        assert parse_go_time(text).rfc3339nano() == text
    assert parse_go_time("2023-01-01T00:00:00.500000000Z").rfc3339nano() == "2023-01-01T00:00:00.5Z"
    assert parse_go_time("2023-01-01T00:00:00Z").datetime == datetime(2023, 1, 1, tzinfo=UTC)
    assert parse_go_time("garbage") is None


# --- docker's --since/--until values (api/types/time.GetTimestamp) ---------------------------

NOW = 1_700_000_000.7


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("42m", (1_700_000_000 - 42 * 60, 0)),
        ("1h30m", (1_700_000_000 - 5400, 0)),
        ("1.5s", (1_699_999_999, 0)),  # Go: (now - d).Unix(), rounded down
        ("-1s", (1_700_000_001, 0)),
        ("0", (0, 0)),  # not a duration: Unix seconds
        ("1356997417", (1356997417, 0)),
        ("1356997417.5", (1356997417, 500_000_000)),
        ("2013-01-02T13:23:37Z", (1357133017, 0)),
        ("2013-01-02T13:23:37.123456789Z", (1357133017, 123456789)),
        ("2013-01-02T13:23:37+01:00", (1357133017 - 3600, 0)),
        ("2013-01-02T13:23:37-01:00", (1357133017 + 3600, 0)),
        ("2013-01-02Z", (1357084800, 0)),
    ],
)
def test_docker_timestamp(value, want):
    assert docker_timestamp(value, NOW) == want


def test_docker_timestamp_local_forms(monkeypatch):
    """Without a zone, the time is local: here, one hour east of UTC."""
    import time

    monkeypatch.setenv("TZ", "XXX-1")
    time.tzset()
    try:
        assert docker_timestamp("2013-01-02", NOW) == (1357084800 - 3600, 0)
        assert docker_timestamp("2013-01-02T13", NOW) == (1357131600 - 3600, 0)
        assert docker_timestamp("2013-01-02T13:23", NOW) == (1357132980 - 3600, 0)
        assert docker_timestamp("2013-01-02T13:23:37.5", NOW) == (1357133017 - 3600, 500_000_000)
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("bogus", 'failed to parse value as time or duration: "bogus"'),
        ("1.x", 'failed to parse value as time or duration: "1.x"'),
        ("2013-13-02", 'parsing time "2013-13-02"'),
    ],
)
def test_docker_timestamp_errors(value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        docker_timestamp(value, NOW)


def test_go_duration():
    assert parse_go_duration("1.5h") == 5_400_000_000_000
    assert parse_go_duration("300ms") == 300_000_000
    assert parse_go_duration("1h2m3s4ms5us6ns") == 3_723_004_005_006
    for bad in ("", "-", "1h1", ".s", "1d"):
        assert parse_go_duration(bad) is None


def test_rfc3339_nano_fixed():
    assert rfc3339_nano_fixed("2026-11-30T12:11:17.26150789Z") == "2026-11-30T12:11:17.261507890Z"
    assert rfc3339_nano_fixed("2026-11-30T12:11:17Z") == "2026-11-30T12:11:17.000000000Z"
