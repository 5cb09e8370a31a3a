import io

from hood.cli.progress import ProgressPrinter, go_duration, progress_bar
from hood.services.pull import PullEvent


def test_progress_bar_like_jsonmessage() -> None:
    bar = progress_bar(12_345_678, 45_600_000)
    assert bar.startswith("[" + "=" * 13 + ">" + " " * 37 + "] ")
    assert bar.endswith(" 12.35MB/45.6MB")
    assert progress_bar(10, 5) == "[" + "=" * 50 + ">] " + "     10B"  # past total: current


def test_progress_fits_the_terminal_as_jsonmessage() -> None:
    """docker's JSONProgress.String(): the bar past 110 columns, time left past 50."""
    assert progress_bar(10_580_000, 93_290_000, 200, "7s").startswith("[=====>")
    assert progress_bar(10_580_000, 93_290_000, 200, "7s").endswith("]  10.58MB/93.29MB 7s")
    assert progress_bar(10_580_000, 93_290_000, 110, "7s") == " 10.58MB/93.29MB 7s"
    assert progress_bar(10_580_000, 93_290_000, 60, "7s") == " 10.58MB/93.29MB 7s"
    assert progress_bar(10_580_000, 93_290_000, 50, "7s") == " 10.58MB/93.29MB"
    assert progress_bar(93_290_000, 93_290_000, 200, "0s").endswith("93.29MB/93.29MB")
    assert progress_bar(0, 0) == ""
    assert go_duration(0.4) == "0s" and go_duration(65) == "1m5s" and go_duration(7203) == "2h0m3s"


def test_extracting_is_shown_live_and_fits_60_columns() -> None:
    out = io.StringIO()
    p = ProgressPrinter(out, tty=True, width=60)
    p(PullEvent("Pulling fs layer", "a3ed95caeb02"))
    p(PullEvent("Downloading", "a3ed95caeb02", 5_000_000, 93_290_000))
    p(PullEvent("Download complete", "a3ed95caeb02"))
    p(PullEvent("Extracting", "a3ed95caeb02", 10_580_000, 93_290_000))
    text = out.getvalue()
    assert "a3ed95caeb02: Extracting  10.58MB/93.29MB" in text
    for line in text.replace("\r", "\n").split("\n"):
        visible = line.split("\x1b[2K")[-1].split("\x1b[")[0]
        assert len(visible) <= 60, visible


def test_plain_output_has_no_progress_lines() -> None:
    out = io.StringIO()
    p = ProgressPrinter(out, tty=False)
    for e in [
        PullEvent("Pulling from library/busybox", "latest"),
        PullEvent("Pulling fs layer", "aaa"),
        PullEvent("Downloading", "aaa", 5, 10),
        PullEvent("Download complete", "aaa"),
        PullEvent("Pull complete", "aaa"),
        PullEvent("Digest: sha256:x"),
    ]:
        p(e)
    assert out.getvalue().splitlines() == [
        "latest: Pulling from library/busybox",
        "aaa: Pulling fs layer",
        "aaa: Download complete",
        "aaa: Pull complete",
        "Digest: sha256:x",
    ]


def test_terminal_output_redraws_the_layer_line_in_place() -> None:
    out = io.StringIO()
    p = ProgressPrinter(out, tty=True, width=200)
    p(PullEvent("Pulling fs layer", "aaa"))
    p(PullEvent("Pulling fs layer", "bbb"))
    p(PullEvent("Downloading", "aaa", 5, 10))
    text = out.getvalue()
    # Two lines written, then the cursor goes up two lines to rewrite aaa's.
    assert text.startswith("aaa: Pulling fs layer\nbbb: Pulling fs layer\n")
    assert "\x1b[2A\r\x1b[2Kaaa: Downloading [" in text
