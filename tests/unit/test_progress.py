import io

from hood.cli.progress import PullPrinter, progress_bar
from hood.services.pull import PullEvent


def test_progress_bar_like_jsonmessage() -> None:
    bar = progress_bar(12_345_678, 45_600_000)
    assert bar.startswith("[" + "=" * 13 + ">" + " " * 37 + "] ")
    assert bar.endswith(" 12.35MB/45.6MB")
    assert progress_bar(10, 5).endswith("] ")  # current past total: no numbers, as docker


def test_plain_output_has_no_progress_lines() -> None:
    out = io.StringIO()
    p = PullPrinter(out, tty=False)
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
    p = PullPrinter(out, tty=True)
    p(PullEvent("Pulling fs layer", "aaa"))
    p(PullEvent("Pulling fs layer", "bbb"))
    p(PullEvent("Downloading", "aaa", 5, 10))
    text = out.getvalue()
    # Two lines written, then the cursor goes up two lines to rewrite aaa's.
    assert text.startswith("aaa: Pulling fs layer\nbbb: Pulling fs layer\n")
    assert "\x1b[2A\r\x1b[2Kaaa: Downloading [" in text
