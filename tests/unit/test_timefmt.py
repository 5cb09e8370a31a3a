from datetime import UTC, datetime, timedelta

import pytest

from hood.core.timefmt import human_duration, human_size, parse_go_time


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
