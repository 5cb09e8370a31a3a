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
    """`text`'s tokens, ending with EOF: the text between actions, and each action's tokens
    between LDELIM and RDELIM (comments and trim markers dropped). Where Go's lexer would
    stop, an ERROR token with its message comes before the EOF."""
    lexer = _Lexer(text)
    try:
        lexer.template()
    except _Stop as stop:
        lexer.add(ERROR, stop.message, stop.pos)
    lexer.add(EOF, "", len(text))
    return lexer.toks


class _Stop(Exception):
    """Go's lexer emits an error item and stops: its message, and where."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message, self.pos = message, pos


# The one-character tokens, but for `(` and `)` which also count the parens.
_PUNCTUATION = {"|": PIPE, "(": LPAREN, ")": RPAREN, "=": ASSIGN}


class _Lexer:
    """A scan of one template: `template` reads text and actions in turn, `action` the
    tokens of one, each token kind by its own method (which returns where the next
    token starts)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.newlines = [i for i, ch in enumerate(text) if ch == "\n"]
        self.toks: list[Tok] = []
        self.depth = 0  # the parens open in the current action

    def add(self, kind: int, val: str, pos: int) -> None:
        self.toks.append(Tok(kind, val, pos, bisect.bisect_left(self.newlines, pos) + 1))

    def template(self) -> None:
        """Text up to each `{{` (less its trailing space under `{{- `), then the comment or
        the action it opens, to the template's end."""
        text, n = self.text, self.n
        i = 0
        while True:
            j = text.find("{{", i)
            if j < 0:
                if i < n:
                    self.add(TEXT, text[i:], i)
                return
            trim_left = text.startswith("-", j + 2) and j + 3 < n and text[j + 3] in SPACE_CHARS
            seg = text[i:j]
            if trim_left:
                seg = seg.rstrip(SPACE_CHARS)
            if seg:
                self.add(TEXT, seg, i)
            k = j + (4 if trim_left else 2)
            if text.startswith("/*", k):
                i = self._comment(k)
            else:
                self.add(LDELIM, "{{", j)
                i = self._action(k)

    def _comment(self, k: int) -> int:
        """`/* ... */` up to its `}}` or ` -}}`; where the text after it starts."""
        text = self.text
        e = text.find("*/", k + 2)
        if e < 0:
            raise _Stop("unclosed comment", k)
        e += 2
        if text.startswith("}}", e):
            return e + 2
        if e < self.n and text[e] in SPACE_CHARS and text.startswith("-}}", e + 1):
            return self._skip_space(e + 4)
        raise _Stop("comment ends before closing delimiter", e)

    def _action(self, k: int) -> int:
        """The tokens of an action, from after its `{{` to its `}}`; where the text after
        it starts."""
        text = self.text
        self.depth = 0
        while True:
            if k >= self.n:
                raise _Stop("unclosed action", k)
            ch = text[k]
            if text.startswith("}}", k) or (ch in SPACE_CHARS and text.startswith("-}}", k + 1)):
                return self._right_delim(k)
            k = self._token(k)

    def _right_delim(self, k: int) -> int:
        """`}}`, or ` -}}` which trims the space after it."""
        trim_right = not self.text.startswith("}}", k)
        if self.depth > 0:
            raise _Stop("unclosed left paren", k)
        self.add(RDELIM, "}}", k)
        if trim_right:
            return self._skip_space(k + 4)
        return k + 2

    def _skip_space(self, k: int) -> int:
        while k < self.n and self.text[k] in SPACE_CHARS:
            k += 1
        return k

    def _token(self, k: int) -> int:
        """The token at `k`, by its first character."""
        text, ch = self.text, self.text[k]
        if ch in SPACE_CHARS:
            return self._space(k)
        if ch in _PUNCTUATION or ch == ":":
            return self._punctuation(k)
        if ch in "\"'":
            return self._quoted(k)
        if ch == "`":
            return self._raw_string(k)
        if ch == "$":
            return self._variable(k)
        if ch == "." and not (k + 1 < self.n and text[k + 1].isdigit()):
            return self._field(k)
        if ch.isdigit() or ch in "+-.":
            return self._number(k)
        if _is_alnum(ch):
            return self._word(k)
        if ord(ch) < 0x80 and ch.isprintable():
            self.add(CHAR, ch, k)
            return k + 1
        raise _Stop(f"unrecognized character in action: {_char_desc(ch)}", k)

    def _space(self, start: int) -> int:
        """A run of space, short of a ` -}}`'s space."""
        text, k = self.text, start
        while k < self.n and text[k] in SPACE_CHARS and not text.startswith("-}}", k + 1):
            k += 1
        if k == start:  # a single space before the trim marker
            k += 1
        self.add(SPACE, text[start:k], start)
        return k

    def _punctuation(self, k: int) -> int:
        """`|`, `(`, `)`, `=` or `:=`."""
        ch = self.text[k]
        if ch == ":":
            if not self.text.startswith(":=", k):
                raise _Stop("expected :=", k)
            self.add(DECLARE, ":=", k)
            return k + 2
        if ch == "(":
            self.depth += 1
        elif ch == ")":
            self.depth -= 1
            if self.depth < 0:
                raise _Stop("unexpected right paren", k)
        self.add(_PUNCTUATION[ch], ch, k)
        return k + 1

    def _quoted(self, start: int) -> int:
        """A "string" or a 'c'haracter constant, backslash escapes kept as they are."""
        text, quote = self.text, self.text[start]
        k = start + 1
        while True:
            if k >= self.n or text[k] == "\n":
                what = "quoted string" if quote == '"' else "character constant"
                raise _Stop(f"unterminated {what}", start)
            if text[k] == "\\":
                k += 2
                continue
            k += 1
            if text[k - 1] == quote:
                break
        self.add(STRING if quote == '"' else CHARCONST, text[start:k], start)
        return k

    def _raw_string(self, start: int) -> int:
        e = self.text.find("`", start + 1)
        if e < 0:
            raise _Stop("unterminated raw quoted string", start)
        self.add(RAW, self.text[start : e + 1], start)
        return e + 1

    def _variable(self, start: int) -> int:
        """`$` or `$name`."""
        k = self._alphanumerics(start + 1)
        self.add(VAR, self.text[start:k], start)
        return k

    def _field(self, start: int) -> int:
        """`.` alone (DOT) or `.Name` (FIELD)."""
        k = self._alphanumerics(start + 1)
        self.add(DOT if k == start + 1 else FIELD, self.text[start:k], start)
        return k

    def _number(self, start: int) -> int:
        k = _scan_number(self.text, start)
        if k < self.n and _is_alnum(self.text[k]) or k == start:
            raise _Stop(f"bad number syntax: {go_quote(self.text[start : k + 1])}", start)
        self.add(NUMBER, self.text[start:k], start)
        return k

    def _word(self, start: int) -> int:
        """A keyword, true or false, nil, or a function's name."""
        k = self._alphanumerics(start)
        word = self.text[start:k]
        if word in _KEYWORDS:
            self.add(KEYWORD, word, start)
        elif word in ("true", "false"):
            self.add(BOOL, word, start)
        elif word == "nil":
            self.add(NIL, word, start)
        else:
            self.add(IDENT, word, start)
        return k

    def _alphanumerics(self, k: int) -> int:
        """Past the letters, digits and underscores from `k`, which must end where a
        token may (space, punctuation, `}}`)."""
        while k < self.n and _is_alnum(self.text[k]):
            k += 1
        if not _at_terminator(self.text, k):
            raise _Stop(f"bad character {_char_desc(self.text[k])}", k)
        return k


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
