"""Mount points as /proc/self/mountinfo writes them: octal escapes for space, tab, newline
and backslash; everything else (UTF-8 included) as it is."""

from hood.runtime.rootfs import mountinfo_path


def test_octal_escapes_are_read_back():
    assert mountinfo_path(r"/var/lib/my\040root/a\011b\012c\134d") == "/var/lib/my root/a\tb\nc\\d"


def test_other_characters_stay_as_they_are():
    assert mountinfo_path("/données/été") == "/données/été"
    assert mountinfo_path(r"/odd\9zz") == r"/odd\9zz"  # not an octal escape: kept
