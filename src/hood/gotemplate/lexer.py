"""Splits a template into text and the tokens of its actions, as Go's text/template/parse does."""

from __future__ import annotations

import bisect

from hood.core.jsonio import go_quote

SPACE_CHARS = " \t\r\n"

# token kinds
TEXT, LDELIM, RDELIM, SPACE, FIELD, VAR, DOT, IDENT, KEYWORD = range(9)
STRING, RAW, CHARCONST, NUMBER, BOOL, NIL, PIPE, LPAREN, RPAREN = range(9, 18)
DECLARE, ASSIGN, CHAR, EOF, ERROR = range(18, 23)

_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block"}
_KEYWORDS |= {"break", "continue"}


class Tok:
    __slots__ = ("kind", "val", "pos", "line")

    def __init__(self, kind: int, val: str, pos: int, line: int) -> None:
        self.kind, self.val, self.pos, self.line = kind, val, pos, line

    def __str__(self) -> str:
        if self.kind == EOF:
            return "EOF"
        if self.kind == ERROR:
            return self.val
        if self.kind in (KEYWORD, DOT):
            return f"<{self.val}>"
        q = go_quote(self.val)
        if len(self.val) > 10:
            q = go_quote(self.val[:10]) + "..."
        return q


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def _at_terminator(text: str, i: int) -> bool:
    if i >= len(text):
        return True
    ch = text[i]
    if ch in SPACE_CHARS or ch in ".,|:()":
        return True
    return text.startswith("}}", i)


def lex(text: str) -> list[Tok]:
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    toks: list[Tok] = []

    def add(kind: int, val: str, pos: int) -> None:
        toks.append(Tok(kind, val, pos, bisect.bisect_left(newlines, pos) + 1))

    def fail(msg: str, pos: int) -> list[Tok]:
        add(ERROR, msg, pos)
        add(EOF, "", len(text))
        return toks

    n = len(text)
    i = 0
    while True:
        j = text.find("{{", i)
        if j < 0:
            if i < n:
                add(TEXT, text[i:], i)
            break
        trim_left = text.startswith("-", j + 2) and j + 3 < n and text[j + 3] in SPACE_CHARS
        seg = text[i:j]
        if trim_left:
            seg = seg.rstrip(SPACE_CHARS)
        if seg:
            add(TEXT, seg, i)
        k = j + (4 if trim_left else 2)
        if text.startswith("/*", k):
            e = text.find("*/", k + 2)
            if e < 0:
                return fail("unclosed comment", k)
            e += 2
            if text.startswith("}}", e):
                i = e + 2
            elif e < n and text[e] in SPACE_CHARS and text.startswith("-}}", e + 1):
                i = e + 4
                while i < n and text[i] in SPACE_CHARS:
                    i += 1
            else:
                return fail("comment ends before closing delimiter", e)
            continue
        add(LDELIM, "{{", j)
        depth = 0
        while True:
            if k >= n:
                return fail("unclosed action", k)
            ch = text[k]
            if text.startswith("}}", k) or (ch in SPACE_CHARS and text.startswith("-}}", k + 1)):
                trim_right = not text.startswith("}}", k)
                if depth > 0:
                    return fail("unclosed left paren", k)
                add(RDELIM, "}}", k)
                k += 4 if trim_right else 2
                if trim_right:
                    while k < n and text[k] in SPACE_CHARS:
                        k += 1
                i = k
                break
            start = k
            if ch in SPACE_CHARS:
                while k < n and text[k] in SPACE_CHARS and not text.startswith("-}}", k + 1):
                    k += 1
                if k == start:  # a single space before the trim marker
                    k += 1
                add(SPACE, text[start:k], start)
            elif ch == "|":
                add(PIPE, ch, k)
                k += 1
            elif ch == "(":
                depth += 1
                add(LPAREN, ch, k)
                k += 1
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    return fail("unexpected right paren", k)
                add(RPAREN, ch, k)
                k += 1
            elif ch == ":":
                if not text.startswith(":=", k):
                    return fail("expected :=", k)
                add(DECLARE, ":=", k)
                k += 2
            elif ch == "=":
                add(ASSIGN, ch, k)
                k += 1
            elif ch in "\"'":
                k += 1
                while True:
                    if k >= n or text[k] == "\n":
                        what = "quoted string" if ch == '"' else "character constant"
                        return fail(f"unterminated {what}", start)
                    if text[k] == "\\":
                        k += 2
                        continue
                    k += 1
                    if text[k - 1] == ch:
                        break
                add(STRING if ch == '"' else CHARCONST, text[start:k], start)
            elif ch == "`":
                e = text.find("`", k + 1)
                if e < 0:
                    return fail("unterminated raw quoted string", start)
                k = e + 1
                add(RAW, text[start:k], start)
            elif ch == "$":
                k += 1
                while k < n and _is_alnum(text[k]):
                    k += 1
                if not _at_terminator(text, k):
                    return fail(f"bad character {_char_desc(text[k])}", k)
                add(VAR, text[start:k], start)
            elif ch == "." and not (k + 1 < n and text[k + 1].isdigit()):
                k += 1
                while k < n and _is_alnum(text[k]):
                    k += 1
                if not _at_terminator(text, k):
                    return fail(f"bad character {_char_desc(text[k])}", k)
                add(DOT if k == start + 1 else FIELD, text[start:k], start)
            elif ch.isdigit() or ch in "+-.":
                k = _scan_number(text, k)
                if k < n and _is_alnum(text[k]) or k == start:
                    return fail(f"bad number syntax: {go_quote(text[start : k + 1])}", start)
                add(NUMBER, text[start:k], start)
            elif _is_alnum(ch):
                while k < n and _is_alnum(text[k]):
                    k += 1
                word = text[start:k]
                if not _at_terminator(text, k):
                    return fail(f"bad character {_char_desc(text[k])}", k)
                if word in _KEYWORDS:
                    add(KEYWORD, word, start)
                elif word in ("true", "false"):
                    add(BOOL, word, start)
                elif word == "nil":
                    add(NIL, word, start)
                else:
                    add(IDENT, word, start)
            elif ord(ch) < 0x80 and ch.isprintable():
                add(CHAR, ch, k)
                k += 1
            else:
                return fail(f"unrecognized character in action: {_char_desc(ch)}", k)
    add(EOF, "", n)
    return toks


def _char_desc(ch: str) -> str:
    return f"U+{ord(ch):04X} {go_quote(ch, chr(39))}"


def _scan_number(text: str, k: int) -> int:
    n = len(text)

    def accept(chars: str) -> bool:
        nonlocal k
        if k < n and text[k] in chars:
            k += 1
            return True
        return False

    def run(chars: str) -> None:
        nonlocal k
        while k < n and text[k] in chars:
            k += 1

    accept("+-")
    digits = "0123456789_"
    if accept("0"):
        if accept("xX"):
            digits = "0123456789abcdefABCDEF_"
        elif accept("oO"):
            digits = "01234567_"
        elif accept("bB"):
            digits = "01_"
    run(digits)
    if accept("."):
        run(digits)
    if len(digits) == 11 and accept("eE"):
        accept("+-")
        run("0123456789_")
    if len(digits) == 23 and accept("pP"):
        accept("+-")
        run("0123456789_")
    return k
