"""ABC's grammar, one character at a time, for sampling: ``AbcChecker.allows(ch)`` says
whether a character can continue the tune written so far without breaking a rule that
abc2midi enforces, and the sampler draws again, among the characters left, where it cannot
(``sampling.AbcGuide``).

The rules are those that sampled tunes broke (``bench/abc_validity.py``), each checked
against abc2midi 4.84 on small tunes (``tests/test_abc_grammar.py``), and kept only where
they refuse next to none of the training corpus's tunes that abc2midi accepts (15 of
23,593: stray lines in a header, a "*", a first ending after ":|" in a tune with parts):

- the header: lines are fields (``T:...``), comments or continued lines, and the tune does
  not end before its ``K:`` line; K:, M:, L: and P: values are of forms abc2midi reads
  (a key: "Unknown mode"; a metre; L: 1/n; parts); a hornpipe (``R:``) is in 2/4 or 4/4
  ("Hornpipe must be in 2/4 or 4/4 time"); a header ``P:`` naming one part is followed by
  that part in the body;
- notes: an accidental is followed by a note (``^^`` and ``__`` once, ``=`` alone); a
  decoration (``H``, ``T``, ``~``, ``.``...) by a note, a rest, another decoration or (but
  after a trill or roll) a chord, and ``.(`` is a dotted slur; grace notes ``{...}`` close
  on their line, two need a note between, and a roll (grace notes too) does not follow
  them; octave marks suit the letter (``C,`` ``c'``); a length is ``n``, ``/m``, ``n/m``
  or ``//``, m a power of two; no character abc2midi does not know;
- a tie ``-`` follows a note or chord and reaches the same note (letter and octave marks;
  an accidental only the tied note's) or a chord, across bar lines and blanks but no rest,
  before the tune ends ("Could not find note to be tied");
- a broken rhythm ``>``/``<`` joins two notes or rests of the same length (tuplets
  counted) whose staccato and fermata are the same (abc2midi shortens and lengthens them);
  in a hornpipe abc2midi swings pairs of eighths itself (``_swung``), so these hold there
  too; no ``>`` follows a note whose length one or the swing has changed;
- chords ``[...]`` do not nest, do not cross a line or a bar line, and ``]`` closes only a
  chord, an inline field or a bar (``|]``); a chord name in quotes is one abc2midi knows
  (``CHORD_NAMES``); tuplets do not nest;
- the body: only the fields abc2midi allows there (``BODY_FIELDS``: "Field not allowed in
  tune body"), no line of blanks (abc2midi ends the tune there), decorations ``!...!`` and
  ``+...+`` closed on their line;
- repeats, as abc2midi follows them: ``|:`` does not follow an open ``|:``; ``::`` does not
  follow a ``:|`` until a ``|:``; a second ending follows a first one and its ``:|``; a
  first ending after a second needs a ``||``, ``|:``, ``:|`` or ``::`` first; a first
  ending is closed by ``:|``, and an opened repeat too, before the tune ends, and ``|]``
  does not end an open repeat; a ``P:`` (where the header names parts) or ``V:`` starts
  afresh; bar lines are those of the corpus.

Other rules keep a sample from losing its way where the grammar holds it back (it would
run to the length limit, or reach a point where no character is allowed): at most
``MOST_BLANKS`` blanks in a row, chords of at most ``MOST_CHORD`` characters, headers of
at most ``MOST_HEADER_LINES`` lines, repeats closed within ``MOST_REPEAT_BARS`` bar lines
and first endings within ``MOST_ENDING_BARS``, each a little over the corpus's longest; at
most three decorations and three octave marks on a note, two digits to a length's number.

The checker is a plain state machine; ``allows`` tries a character on a shallow copy.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

NOTE_LETTERS = frozenset("ABCDEFGabcdefg")
ACCIDENTALS = frozenset("^_=")
DECORATIONS = frozenset("HLMOPSTuv~.")
RESTS = frozenset("zxZ")  # Z: a rest of whole bars ("Z2")
LENGTH_CHARS = frozenset("0123456789/")
OCTAVE_CHARS = frozenset(",'")
BAR_CHARS = frozenset("|:")
BLANKS = frozenset(" \t")
FIELD_LOWER = frozenset("wmrs")  # lower-case field letters in the body ("w:" lyrics)
# Fields abc2midi allows in the body (others: "Field not allowed in tune body").
BODY_FIELDS = frozenset("KLMPQTWVI") | FIELD_LOWER
# What may begin a length ("3/", "//"): as in the corpus, at most two digits, and below the
# line a power of two (abc2midi: "3 b is not a power of 2").
LENGTH_PREFIX = re.compile(r"\d{0,2}(?:/(?:|1|3|6|2|4|8|16|32|64)|/{2,4})?")
# Implicit (no |: yet), opened by |: or ::, closed by :|.
IMPLICIT, OPEN, CLOSED = "implicit", "open", "closed"
# abc2midi 4.84: "Hornpipe must be in 2/4 or 4/4 time" (C is 4/4; C| and 2/2 are refused).
HORNPIPE_METRES = frozenset({"2/4", "4/4", "C", ""})
# The bar lines of the training corpus (before an ending's number): any other run of "|"
# and ":" is read by abc2midi as two bar lines or refused.
BAR_LINES = frozenset(
    {
        "|",
        "||",
        "|]",
        "|:",
        "::",
        ":|",
        ":||",
        ":||:",
        ":|:",
        "|||:",
        "||:",
        "[|",
        "|||",
        ":",
        ":|]",
    }
)
# The longest run of blanks in the training corpus is 75 (scores aligned in columns); a
# sample that runs past this has lost its way (it ran to the length limit in blanks).
MOST_BLANKS = 80
# The longest chord of the training corpus is 24 characters, "[" to "]"; a sample's chord
# that has not closed by this length has lost its way too.
MOST_CHORD = 32
MOST_GRACE = 16  # and of grace notes, "{" to "}", 10
# The longest repeat of the training corpus, "|:" to ":|", has 80 bar lines; a sample's
# repeat that runs past this has lost its way (it ran to the length limit, unclosed).
MOST_REPEAT_BARS = 88
MOST_ENDING_BARS = 8  # and a first ending, "[1" to ":|", 5
# The longest header of the training corpus has 22 lines, its K: line counted.
MOST_HEADER_LINES = 24


def _words(words: list[str], then: str = "") -> str:
    """A pattern for any of ``words`` followed by ``then``, or any beginning of one of them
    (for the prefix forms below, which say whether a value can still be completed)."""
    begun = {w[:i] for w in words for i in range(len(w) + 1)}
    whole = "|".join(sorted(words, key=len, reverse=True))
    part = "|".join(sorted(begun, key=len, reverse=True))
    return f"(?:(?:{whole}){then}|{part})"


MODES = "m min minor maj major mix mixolydian dor dorian phr phrygian lyd lydian loc locrian"
MODES += " aeo aeolian ion ionian"
CLEFS = ["bass", "treble", "alto", "tenor"]
# A K: field's value: a key (a tonic, upper case, and a mode in any case) or none, then a
# clef, then a comment: "First K: field must specify key signature", "Unknown mode".
# After the key: a clef ("bass", "treble-8"), settings ("clef=bass", "transpose=-12",
# "octave=-1") and explicit accidentals ("exp ^f _b"), as abc2midi 4.84 reads them.
KEY_EXTRAS = (
    r"(?:\s+(?:(?:" + "|".join(CLEFS) + r")(?:[+-]8)?|(?:clef|transpose|octave|middle)=[\w+-]+"
    r"|exp(?:\s+[\^_=][a-gA-G])*))*"
)
KEY_EXTRAS_BEGUN = (
    KEY_EXTRAS
    + r"(?:\s+(?:"
    + _words(CLEFS, r"(?:[+-]8?)?")
    + "|"
    + _words(["clef", "transpose", "octave", "middle"], r"=[\w+-]*")
    + "|"
    + _words(["exp"], r"(?:\s+[\^_=][a-gA-G]?)*")
    + r"))?"
)
KEY = re.compile(
    r"\s*(?:[A-G][#b]?\s*(?i:(?:" + MODES.replace(" ", "|") + r")[a-z]*)?(?:\s*=[a-g])?"
    r"|Hp|HP|none)" + KEY_EXTRAS + r"\s*(?:%.*)?"
)
KEY_BEGUN = re.compile(
    r"\s*(?:[A-G][#b]?\s*(?i:" + _words(MODES.split(), "[a-z]*") + r")?(?:\s*=[a-g]?)?"
    r"|H[pP]?|" + _words(["none"]) + r")?" + KEY_EXTRAS_BEGUN + r"\s*"
)
BEATS = r"(?:[1-9]|[1-5]\d|6[0-4])"  # 1 to 64, and (as a prefix) what begins one
# The fields whose values abc2midi reads: each value's form, and what may begin one (before
# a comment, "%").  M:, L: "Expecting fraction in form A/B", "Default length must be 1/X";
# P: in the header, the order of the parts ("illegal character in part specification"); in
# the body, one part, of which abc2midi reads the first letter.
FIELD_VALUES = {
    "K": (KEY, KEY_BEGUN),
    "M": (  # a bar of at most 64 beats (stave.melody.LONGEST_BAR), a power of two below
        re.compile(r"\s*(?:C\|?|none|" + BEATS + r"/(?:1|2|4|8|16|32|64))\]?\s*(?:%.*)?"),
        re.compile(
            r"\s*(?:C\|?|" + _words(["none"]) + r"|" + BEATS + r"?(?:/(?:|1|2|3|4|6|8|16|32|64))?)?"
            r"\]?\s*"
        ),
    ),
    "L": (
        re.compile(r"\s*1/(?:1|2|4|8|16|32|64)\s*(?:%.*)?"),
        re.compile(r"\s*(?:1(?:/(?:|1|2|3|4|6|8|16|32|64))?)?\s*"),
    ),
    "P": (
        re.compile(r"\s*[A-Z][A-Z0-9(). \t]*(?:%.*)?"),
        re.compile(r"\s*(?:[A-Z][A-Z0-9(). \t]*)?"),
    ),
}
PART = (re.compile(r"\s*[A-Z0-9].*"), re.compile(r"\s*(?:[A-Z0-9].*)?"))
# Characters that may stand in music (outside quotes, decorations, fields and comments):
# those of the training corpus's music lines; abc2midi refuses others ("Unrecognized
# character") or ignores them.
MUSIC_CHARS = frozenset(" \t0123456789ABCDEFGabcdefgzxZ|/(),>=.:`_^\\{}-T]'<vu[~HkM!+KUVyS\"%&")


def metre_value(text: str) -> Fraction | None:
    """An M: field's bar length in whole notes (C 4/4, C| 2/2); None where it says none."""
    text = text.strip()
    if text in ("C", "C|"):
        return Fraction(1)
    m = re.match(r"(\d+)/(\d+)", text)
    return Fraction(int(m.group(1)), int(m.group(2))) if m and int(m.group(2)) else None


def length_value(spelling: str) -> Fraction | None:
    """The length, in units of L:, that a note's length suffix spells ("" 1, "2", "/",
    "/2", "3/2", "//"...); None where it is not a length (an unfinished "3/" is 3/2)."""
    if not spelling:
        return Fraction(1)
    m = re.fullmatch(r"(\d*)(/*)(\d*)", spelling)
    if m is None:
        return None
    num, slashes, den = m.groups()
    n = int(num) if num else 1
    if not slashes:
        return Fraction(n) if not den else None
    if den:
        return Fraction(n, int(den)) if len(slashes) == 1 and int(den) > 0 else None
    return Fraction(n, 2 ** len(slashes))


def _could_reach(prefix: str, target: Fraction) -> bool:
    """Can a length spelling that starts with ``prefix`` still spell ``target``?"""
    if length_value(prefix) == target:
        return True
    for den in (1, 2, 4, 8, 16, 32, 64):
        num = target * den
        if num.denominator != 1:
            continue
        n = int(num)
        spellings = [f"{n}/{den}", f"/{den}" if n == 1 else "", f"{n}" if den == 1 else ""]
        if den > 1 and n == 1:
            spellings.append("/" * (den.bit_length() - 1))
        if den == 2:
            spellings.append(f"{n}/")
        if any(s.startswith(prefix) and LENGTH_PREFIX.fullmatch(s) for s in spellings if s):
            return True
    return False


def _is_chord(text: str) -> bool:
    """Is a quoted text a chord name (not an annotation: "^text", "_text", "<", ">", "@")?"""
    return text[:1] not in ("^", "_", "<", ">", "@")


def _chord_names() -> frozenset[str]:
    """Chord names abc2midi reads: a root, a kind, a bass note, in brackets or not ("Am",
    "D7/f#", "(G)").  The training corpus's kinds are "", m, 7, m7, 6 and m6; the others are
    ones abc2midi 4.84 knows (tried; it does not know maj, M, min, 13, 7b9, 69 or add9)."""
    roots = [r + a for r in "ABCDEFG" for a in ("", "#", "b")]
    basses = [""] + ["/" + b + a for b in "ABCDEFGabcdefg" for a in ("", "#", "b")]
    kinds = ["", "m", "7", "m7", "6", "m6", "maj7", "M7", "dim", "dim7", "aug", "+", "sus4"]
    kinds += ["sus2", "7sus4", "9", "m9", "m7b5", "11", "5"]
    names = {r + kind + bass for r in roots for kind in kinds for bass in basses}
    return frozenset(names | {f"({n})" for n in names})


CHORD_NAMES = _chord_names()
CHORD_PREFIXES = frozenset(n[:i] for n in CHORD_NAMES for i in range(len(n) + 1))


def _rule(name: str, body: bool) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """The form of a field's value, and what may begin one."""
    return PART if body and name == "P" else FIELD_VALUES.get(name)


def _value_char(field: str, ch: str, body: bool = False) -> bool:
    """May ``ch`` continue the field ``field`` ("M:3/" ...)?  K:, M:, L: and P: are read."""
    name, colon, value = field.partition(":")
    rule = _rule(name, body)
    if not colon or rule is None or "%" in value or ch == "%":
        return True
    return rule[1].fullmatch(value + ch) is not None


def _value_ok(field: str, body: bool = False) -> bool:
    """Is the whole field ("K:G", "M:6/8") of a form abc2midi reads?"""
    name, colon, value = field.partition(":")
    rule = _rule(name, body)
    return not colon or rule is None or rule[0].fullmatch(value) is not None


def _same_marks(first: str, second: str) -> bool:
    """Do staccato and fermata leave two notes of a broken rhythm the same length, as
    abc2midi 4.84 compares them?  (Both or neither; it does not compare where the second
    carries a roll "~".)"""
    return "~" in second or first.replace("~", "") == second.replace("~", "")


@dataclass(frozen=True)  # frozen: ``allows`` tries characters on a shallow copy
class Pitch:
    """A note's spelling: accidental, letter, octave marks."""

    accidental: str
    letter: str
    octave: str


@dataclass
class AbcChecker:
    """The state of one tune being written; feed it characters with ``push``."""

    in_body: bool = False
    header_lines: int = 0
    ended: bool = False
    line: str = ""  # the current line so far
    hornpipe: bool = False  # an R: field starts "hornpipe" (abc2midi keeps it once set)
    parts: bool = False  # the header has P:, so each part follows its repeats afresh
    header_part: str = ""  # the header's P: where it names one part (a label)
    part_seen: bool = False  # the body's P: that a header P: needs (its label's, or any)
    metre: str = ""  # M:
    skip_line: bool = False  # a field or comment line: anything to its end
    quote: str = ""  # inside "..." or !...!: the closing character
    pending_letter: str = ""  # a letter at a line's start: a field ("w:") or music
    bracket: str = ""  # "[" just read, or "[" and a letter (a chord or an inline field)
    inline_field: bool = False
    chord: bool = False
    chord_chars: int = 0  # characters of the open chord, its "[" included
    grace: bool = False
    grace_chars: int = 0  # characters of the open grace notes, "{" included
    after_grace: bool = False  # grace notes closed, no note, rest, chord or bar line since
    decorated: bool = False  # a note, rest or chord must follow
    decos: str = ""  # the decorations waiting for it
    accidental: str = ""  # read, its note not yet
    note: Pitch | None = None  # the note being read (letter read; octave, length may follow)
    rest: bool = False  # a rest being read (its length may follow)
    length: str = ""  # the length suffix read so far
    last: str = ""  # the last element: "note", "rest", "chord" or ""
    last_pitch: Pitch | None = None
    tie: Pitch | None = None  # a tie from this note is open
    tie_chord: bool = False  # a tie from a chord is open
    broken: Fraction | None = None  # the next note or rest must be this long (whole notes)
    broken_open: bool = False  # a broken rhythm waits for its second note
    bar: str = ""  # a bar line being read ("|", ":|", "|1"...)
    repeat: str = IMPLICIT
    first_ending: bool = False  # a first ending seen since the repeat opened
    second_ending: bool = False  # in a second (or later) ending
    bar_closed: bool = False  # the last bar line closed a repeat
    fresh_endings: bool = False  # a second ending ended by a bar line: a first may come
    first_open: bool = False  # a first ending waits for its ":|"
    repeat_bars: int = 0  # bar lines since the open repeat's "|:"
    chord_length: bool = False  # the length being read is a chord's
    tuplet: str = ""  # reading a tuplet's "(3:2:3"
    tuplet_left: int = 0  # notes still in the tuplet
    tuplet_factor: Fraction = Fraction(1)
    # Lengths, for the hornpipe's swing: abc2midi plays an R:hornpipe in 2/4 or 4/4 swung,
    # as if each eighth (4/4) or sixteenth (2/4) written "1/n" on the off-beat after an
    # equal one were joined to it by ">", and refuses the pair where the two differ once
    # staccato (".") or a fermata has changed their lengths (tried on abc2midi 4.84).
    unit: Fraction | None = None  # L:, in whole notes
    time_num: int = 4  # M:'s numerator (C 4, C| 2)
    swing: bool = False
    pos: Fraction = Fraction(0)  # where in the bar, in whole notes, as abc2midi counts
    swing_last: Fraction | None = None  # the last note's length (none after a chord)
    altered: bool = False  # the last note's length was changed by ">" or the swing
    marks: str = ""  # staccato, fermata and roll on the element being read or coming
    last_marks: str = ""  # those of the last note or rest
    last_whole: Fraction | None = None  # its length in whole notes
    chord_first: Fraction | None = None  # the chord's first note's length (bar counting)

    def allows(self, ch: str) -> bool:
        """Can ``ch`` come next?  The checker is left as it was."""
        return copy.copy(self).push(ch)

    def push(self, ch: str) -> bool:
        """Take ``ch``; False (and the state half changed) where it breaks a rule."""
        if self.ended:
            return True
        if ch == "\n":
            ok = self._newline()
            self.line = ""
            return ok
        ok = self._header(ch) if not self.in_body else self._body(ch)
        self.line += ch
        return ok

    def feed(self, text: Iterable[str]) -> bool:
        """Push every character; False at the first that breaks a rule."""
        return all(self.push(ch) for ch in text)

    # -- header ------------------------------------------------------------------------

    def _header(self, ch: str) -> bool:
        """A header line is a field ("T:..."), a comment, or a continued line (" ...");
        past the corpus's longest header only the K: line may start."""
        swing_ok = self.metre.replace(" ", "") in HORNPIPE_METRES
        if not self.line:
            self.header_lines += 1
            if self.header_lines > MOST_HEADER_LINES and ch != "K":
                return ch == "M" and self.hornpipe and not swing_ok
            if ch == "K" and self.hornpipe:
                return swing_ok
            return ch in string.ascii_uppercase or ch in "% "  # no music before K:
        if len(self.line) == 1 and self.line.isalpha():
            return ch == ":"
        if self.hornpipe and self.line.startswith("M:") and ch not in " \t":
            written = self.line[2:].replace(" ", "") + ch  # a hornpipe's metre
            return any(m.startswith(written) for m in HORNPIPE_METRES)
        return _value_char(self.line, ch)

    def _header_line(self) -> None:
        name, _, value = self.line.partition(":")
        if name == "R":
            self.hornpipe = self.hornpipe or value.lstrip().startswith(("hornpipe", "Hornpipe"))
        elif name == "P":
            self.parts = True
            spec = value.split("%")[0].strip()
            self.header_part = spec if len(spec) == 1 else ""
        elif name == "K":
            self.in_body = True
            if self.unit is None:  # abc2midi's default: 1/16 below a bar of 3/4, else 1/8
                bar = metre_value(self.metre)
                self.unit = (
                    Fraction(1, 16) if bar is not None and bar < Fraction(3, 4) else Fraction(1, 8)
                )
            self.swing = self.hornpipe
        self._field(name, value)

    def _field(self, name: str, value: str) -> None:
        """An L: or M: field, in the header or the body; a P: in the body."""
        if name == "P" and self.in_body:
            letter = value.strip()[:1]
            self.part_seen = self.part_seen or not self.header_part or letter == self.header_part
        elif name == "M":
            self.metre = value.strip()
            m = re.match(r"\s*(\d+)", value)
            self.time_num = int(m.group(1)) if m else 2 if "C|" in value else 4
        elif name == "L":
            unit = metre_value(value)
            if unit is not None and unit > 0:
                self.unit = unit

    # -- lines -------------------------------------------------------------------------

    def _newline(self) -> bool:
        if not self.in_body:
            if not self.line.strip():
                return False  # the tune would end without a K: line
            if not _value_ok(self.line):
                return False
            self._header_line()
            return True
        if not self.line and not self.pending_letter:
            return self._end()
        if self.pending_letter:
            if not self._music(self.pending_letter):
                return False
            self.pending_letter = ""
        if self.line and not self.line.strip():
            return False  # abc2midi ends the tune at a line of blanks
        if self.skip_line:
            self.skip_line = False
            if not _value_ok(self.line, body=True):
                return False
            name, _, value = self.line.partition(":")
            self._field(name, value)
            return True
        if not self._finish_element(" ") or (self.bar and not self._finish_bar()):
            return False
        if self.quote == "!" and self.line.endswith("!"):  # a line break (ABC 1.6)
            self.quote = ""
        if self.quote or self.chord or self.grace or self.bracket or self.inline_field:
            return False  # these do not cross lines
        return not (self.decorated or self.accidental)

    def _end(self) -> bool:
        """A blank line: the tune ends.  The line before it has closed what a line must
        (``_newline``); what must close before the tune ends is checked here."""
        if self.tie is not None or self.tie_chord or self.broken_open or self.after_grace:
            return False
        if self.repeat == OPEN or self.first_open:
            return False  # abc2midi: "Missing :| at end of tune"
        if self.parts and not self.part_seen:
            return False  # abc2midi: "P: field in header should go after K: field"
        self.ended = True
        return True

    # -- body --------------------------------------------------------------------------

    def _body(self, ch: str) -> bool:
        if self.skip_line:
            return _value_char(self.line, ch, body=True)
        if self.pending_letter:
            letter, self.pending_letter = self.pending_letter, ""
            if ch == ":":
                if letter not in BODY_FIELDS:
                    return False  # "Field not allowed in tune body" (X: a new tune)
                if letter == "V" or (letter == "P" and self.parts):
                    self._new_part()
                self.skip_line = True
                return True
            if not self._music(letter):
                return False
        elif not self.line:
            if ch == "%":
                self.skip_line = True
                return True
            if ch in BODY_FIELDS and ch not in NOTE_LETTERS:
                self.pending_letter = ch  # "w:", "P:", "K:"... or a decoration "T"
                return True
        return self._music(ch)

    def _music(self, ch: str) -> bool:
        if self.grace:
            self.grace_chars += 1
            if self.grace_chars >= MOST_GRACE and ch != "}" and not self.accidental:
                return False
        if self.chord:
            self.chord_chars += 1
            if self.chord_chars >= MOST_CHORD and ch != "]" and not self.accidental:
                return False
        if self.quote:
            return self._quoted(ch)
        if ch == "%":
            if self.accidental or self.decorated or self.bracket or self.tuplet:
                return False  # a note begun, then a comment
            if not self._finish_element(" "):
                return False
            self.skip_line = True
            return True
        if self.inline_field:
            field = self.line[self.line.rfind("[") + 1 :]
            if ch == "]":
                self.inline_field = False
                if not _value_ok(field, body=True):
                    return False
                name, _, value = field.partition(":")
                self._field(name, value)
                return True
            return _value_char(field, ch, body=True)
        if self.bracket:
            return self._after_bracket(ch)
        if self.accidental:
            return self._after_accidental(ch)
        if self.note is not None or self.rest:
            if ch in (OCTAVE_CHARS if self.note is not None and not self.length else ()):
                return self._octave(ch)
            if ch in LENGTH_CHARS:
                return self._length(ch)
            if not self._finish_element(ch):
                return False
        if self.bar:
            ending = re.search(r"\d[\d,-]*$", self.bar) is not None
            if (
                ch in BAR_CHARS
                or (ch.isdigit() and self.bar[-1] in "|[")
                or (ending and (ch.isdigit() or (ch in ",-" and self.bar[-1].isdigit())))
                or ch == "]"
            ):
                if ch == "]" and self.bar[-1] != "|":
                    return self._finish_bar() and self._music(ch)
                return self._bar_prefix(self.bar + ch)
            if not self._finish_bar():
                return False
        return self._start(ch)

    def _start(self, ch: str) -> bool:
        """``ch`` starts something (no note, rest, bar or bracket is being read)."""
        if self.tuplet:
            if ch.isdigit() or ch == ":":
                self.tuplet += ch
                return True
            self._tuplet_read()
        if ch.isdigit() and self.line[-1:] == "(":
            if self.tuplet_left > 0:
                return False  # abc2midi: "nested tuples"
            if self.line.endswith(".("):
                return False  # a dotted slur, then a number: "Unrecognized character"
            if self.broken_open:
                return False  # no length after ">" would match a tuplet's
            self.tuplet = ch
            return True
        waiting = self.decorated
        if ch in BLANKS:
            return not waiting and not self.line.endswith(" " * MOST_BLANKS)
        if ch not in MUSIC_CHARS or ch in OCTAVE_CHARS:
            return False  # abc2midi: "Unrecognized character"
        if waiting and not self._decorates(ch):
            return False  # abc2midi: "Malformed note : expecting a-g or A-G"
        if ch in ACCIDENTALS:
            if self.grace or self.chord:
                self.accidental = ch
                return True
            self.accidental = ch
            return self._note_may_start() and self._marks_fit()
        if ch in NOTE_LETTERS:
            return self._note(Pitch("", ch, ""))
        if ch in RESTS:
            if self.chord or self.grace:
                return False
            if self.tie is not None or self.tie_chord:
                return False  # abc2midi: "Could not find note to be tied"
            self.decorated, self.decos = False, ""
            self.rest = True
            self.length = ""
            return self._marks_fit()
        if ch == "-":
            if self.chord or self.grace:  # a chord note's tie follows it: "[c-e-]"
                return self.chord and self.line[-1:] not in BLANKS | {"[", "-"}
            if self.last == "note" and self.last_pitch is not None:
                self.tie = self.last_pitch
            elif self.last == "chord":
                self.tie_chord = True
            else:
                return False  # abc2midi: "Cannot find note before tie"
            self.last = ""
            return True
        if ch in "<>":
            if waiting or self.chord or self.grace or self.altered:
                return False  # its length has changed ("B<B>G", a swung note): "Cannot apply..."
            if not self.broken_open:
                if self.last not in ("note", "rest", "chord"):
                    return False
                whole = self.last_whole
                odd = whole is not None and whole.denominator & (whole.denominator - 1)
                if odd and self.tuplet_left == 0:
                    return False  # a tuplet's last note: none outside it is as long
                self.broken = self.last_whole if self.last in ("note", "rest") else None
                self.broken_open = True
            self.last = ""
            return True
        if ch in "!+":  # !trill!, !D.C.!, +trill+: may stand before a bar line too
            self.quote = ch
            return not (self.chord or self.grace)
        if ch in DECORATIONS:
            if self.grace:
                return ch not in "~T"  # grace notes in grace notes: "nested { not allowed"
            if self.chord:
                return True
            if ch == "~" and self.after_grace:
                return False  # a roll is grace notes: "Intervening note needed..."
            if ch in ".H~":
                self.marks += ch
            self.decos += ch
            self.decorated = True
            if self.broken_open and self.broken is not None and "~" not in self.marks:
                # the second note of ">" can still match the first's staccato and fermata
                return self.last_marks.replace("~", "").startswith(self.marks)
            return True
        if ch == '"':
            if self.chord or self.grace:
                return False
            self.quote = '"'
            return True
        if ch == "{":
            if waiting or self.grace or self.chord or self.after_grace:
                return False  # abc2midi: "Intervening note needed between grace notes"
            self.grace = True
            self.grace_chars = 1
            return True
        if ch == "}":
            if not self.grace:
                return False
            self.grace = False
            self.after_grace = True
            return True
        if ch == "[":
            if self.chord or self.grace:
                return False  # abc2midi: "Attempt to nest chords"
            self.bracket = "["
            return True
        if ch == "]":
            if not self.chord:
                return False  # abc2midi: "Chord already finished"
            self.chord = False
            self.last = "chord"
            self.note = None
            self.rest = True  # its length may follow, read as a rest's
            self.length = ""
            self.chord_length = True
            return True
        if ch in BAR_CHARS:
            if waiting or self.chord or self.grace or (self.broken_open and ch == ":"):
                return False
            return self._bar_prefix(ch)
        if ch in "()":
            if waiting:  # ".(": a dotted slur, not a staccato (_decorates)
                self.marks = self.marks[:-1]
                self.decorated, self.decos = False, ""
            return not self.grace
        if ch == "\\":
            return not waiting and not self.chord and not self.grace
        if ch.isdigit() or ch == "/":
            return self.grace and ch == "/"  # abc2midi: "stray /", "Unrecognized character"
        return not waiting

    def _decorates(self, ch: str) -> bool:
        """May ``ch`` follow the decorations waiting for their note (``decos``)?  A note,
        a rest or another decoration; a chord but after a trill or roll ("Rolls and trills
        not supported in chords"); "(" after a lone "." (a dotted slur)."""
        if ch in DECORATIONS:  # the corpus's notes carry one or two; ">" may need more marks
            return len(self.decos) < 3 or (self.broken_open and ch in ".H~")
        if ch in ACCIDENTALS or ch in NOTE_LETTERS or ch in RESTS:
            return True
        if ch in "[!":
            return not (set(self.decos) & set("T~"))
        return ch == "(" and self.decos == "."

    def _quoted(self, ch: str) -> bool:
        """Inside "..." (a chord name, or an annotation after ^ _ < > @) or !...!."""
        opened = self.line.rfind(self.quote)
        text = self.line[opened + 1 :]
        if ch == self.quote:
            if ch in "!+" and text == "fermata":
                self.marks += "H"
            self.quote = ""
            return ch in "!+" or not _is_chord(text) or text in CHORD_NAMES
        if self.quote in "!+":
            return len(text) < 20 and (ch.isalnum() or ch in ".<>()-")
        if _is_chord(text + ch):
            return text + ch in CHORD_PREFIXES  # abc2midi: "Unrecognized chord name"
        return True

    def _tuplet_read(self) -> None:
        """The tuplet "(p:q:r" is read: r notes (p where r is not given) follow, each q/p of
        its length (q as the ABC standard gives it where it is not written)."""
        fields = [int(f) if f.isdigit() else 0 for f in self.tuplet.split(":")]
        self.tuplet = ""
        p = fields[0]
        q = fields[1] if len(fields) > 1 and fields[1] else 0
        r = fields[2] if len(fields) > 2 and fields[2] else p
        if not q:
            compound = self.time_num % 3 == 0 and self.time_num > 3
            q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound else 2)
        self.tuplet_left = r
        self.tuplet_factor = Fraction(q, p) if p else Fraction(1)

    def _note_may_start(self) -> bool:
        """An accidental is read: may a note so spelled reach the open tie?  (A chord's tie
        reaches a chord.)"""
        if self.tie_chord:
            return False
        return self.tie is None or self.tie.accidental.startswith(self.accidental)

    def _after_accidental(self, ch: str) -> bool:
        acc = self.accidental
        if ch in NOTE_LETTERS:
            self.accidental = ""
            return self._note(Pitch(acc, ch, ""))
        if ch == acc[-1] and acc in ("^", "_"):
            self.accidental = acc + ch
            tie = self.tie
            return tie is None or tie.accidental.startswith(self.accidental)
        return False  # abc2midi: "Malformed note: expecting a-g or A-G"

    def _note(self, pitch: Pitch) -> bool:
        self.note = pitch
        self.length = ""
        if self.grace or self.chord:
            return True  # notes inside are read for their shape only
        tie = self.tie
        if tie is not None and (
            tie.letter != pitch.letter or pitch.accidental not in ("", tie.accidental)
        ):
            return False  # abc2midi: "Could not find note to be tied"
        if self.tie_chord:
            return False  # a chord's tie reaches a chord
        self.decorated, self.decos = False, ""
        return self._marks_fit()

    def _marks_fit(self) -> bool:
        """A note or rest starts: after ">" its staccato and fermata must be the first's."""
        return not (
            self.broken_open
            and self.broken is not None
            and not _same_marks(self.last_marks, self.marks)
        )  # abc2midi: "Cannot apply broken rhythm"

    def _octave(self, ch: str) -> bool:
        assert self.note is not None
        if (ch == ",") != self.note.letter.isupper() or len(self.note.octave) >= 3:
            return False  # abc2midi: "Bad pitch specifier , after note c" (and ' after C)
        self.note = dataclasses.replace(self.note, octave=self.note.octave + ch)
        tie = self.tie
        if tie is not None and not (self.grace or self.chord):
            return tie.octave.startswith(self.note.octave)
        return True

    def _length(self, ch: str) -> bool:
        tie = self.tie
        inner = self.grace or self.chord
        if (
            tie is not None
            and self.note is not None
            and not inner
            and tie.octave != self.note.octave
        ):
            return False  # the tied note's octave marks come before its length
        self.length += ch
        if LENGTH_PREFIX.fullmatch(self.length) is None:
            return False  # abc2midi: "Unrecognized character" ("A//4")
        if self.broken_open and self.broken is not None and not (self.grace or self.chord):
            return _could_reach(self.length, self.broken / self._scale())
        return True

    def _finish_element(self, ch: str) -> bool:
        """A note, rest or chord's length being read ends before ``ch``."""
        if self.note is None and not self.rest:
            return True
        value = length_value(self.length)
        below = self.length.rpartition("/")[2] if "/" in self.length else ""
        if below and int(below) & (int(below) - 1):
            return False  # abc2midi: "3 b is not a power of 2" (as written: "3/3" too)
        whole = None if value is None else value * self._scale()
        if self.grace:
            pass  # grace notes count for nothing here
        elif self.chord:
            if self.chord_first is None:
                self.chord_first = whole
        elif not self._element_done(value, whole):
            return False
        self.note = None
        self.rest = False
        self.length = ""
        return True

    def _scale(self) -> Fraction:
        """Whole notes per unit of written length, here: L:, and a tuplet's ratio."""
        factor = self.tuplet_factor if self.tuplet_left > 0 else Fraction(1)
        return (self.unit or Fraction(1, 8)) * factor

    def _element_done(self, value: Fraction | None, whole: Fraction | None) -> bool:
        """A note, rest or chord (``value`` its written length in units, ``whole`` in whole
        notes) is read: ties, broken rhythms, the swing and the bar's count."""
        marks, self.marks = self.marks, ""
        explicit = self.broken_open
        if self.broken_open:
            if (
                self.broken is not None
                and not self.chord_length
                and (whole != self.broken or not _same_marks(self.last_marks, marks))
            ):
                return False  # abc2midi: "Cannot apply broken rhythm"
            self.broken_open = False
            self.broken = None
        if self.note is not None:
            tie = self.tie
            if tie is not None and tie.octave != self.note.octave:
                return False
            if (
                self.swing
                and not explicit
                and whole is not None
                and self._swung(whole)
                and (whole != self.last_whole or not _same_marks(self.last_marks, marks))
            ):
                return False  # abc2midi: "Cannot apply broken rhythm" (the swing)
            swung = self.swing and not explicit and whole is not None and self._swung(whole)
            self.altered = explicit or swung
            self.tie = None
            self.last, self.last_pitch = "note", self.note
            self.swing_last = whole
        elif self.chord_length:
            self.tie_chord = False
            self.last, self.last_pitch = "chord", None
            self.swing_last = None
            self.altered = False
            whole = self.chord_first
        else:
            self.last, self.last_pitch = "rest", None
            self.altered = explicit
        self.after_grace = False
        self.pos += whole or 0
        self.tuplet_left = max(0, self.tuplet_left - 1)
        self.last_whole, self.last_marks = whole, marks
        self.chord_length = False
        self.chord_first = None
        return True

    def _swung(self, whole: Fraction) -> bool:
        """Does abc2midi swing this note with the one before (``hornp`` in its store.c)?
        It is as long as the last note, written with numerator 1 outside a tuplet, an
        eighth in 4/4 (a sixteenth in 2/4), and starts on the off-beat between two."""
        written = re.match(r"\d*", self.length)
        numerator_one = written is None or written.group() in ("", "1")
        short = whole == Fraction(self.time_num, 32)
        off_beat = self.pos.denominator == 32 // self.time_num if self.time_num in (2, 4) else False
        return (
            numerator_one
            and self.tuplet_left == 0
            and short
            and whole == self.swing_last
            and off_beat
        )

    def _after_bracket(self, ch: str) -> bool:
        if self.bracket == "[":
            if ch == "|":
                self.bracket = ""
                return self._bar_prefix("[|")
            if ch.isdigit():
                self.bracket = ""
                return self._bar_prefix("[" + ch)
            if ch in BODY_FIELDS:
                self.bracket = "[" + ch  # an inline field ("[K:G]")
                return True
            if ch in NOTE_LETTERS:
                self.bracket = "[" + ch
                return self.tie is None  # a note's tie reaches a note, not a chord
            return self._chord(1) and self._music(ch)
        letter = self.bracket[1]
        self.bracket = ""
        if ch == ":":
            if letter not in BODY_FIELDS:
                return False  # abc2midi: "Field not allowed in tune body"
            self.inline_field = True
            if letter == "V" or (letter == "P" and self.parts):
                self._new_part()
            return True
        if not self._chord(2):  # a chord whose first note is ``letter``
            return False
        if letter in NOTE_LETTERS:
            self._note(Pitch("", letter, ""))
        return self._music(ch)

    def _chord(self, chars: int) -> bool:
        """A chord opens (``chars`` of it read).  It ends a tie from a chord, not a note's."""
        if self.tie is not None:
            return False
        self.bracket = ""
        self.tie_chord = False
        self.broken = None  # no length is checked across a chord
        self.chord = True
        self.chord_chars = chars
        self.decorated, self.decos = False, ""
        return True

    # -- bar lines and repeats ---------------------------------------------------------

    def _new_part(self) -> None:
        """A part (P:, where the header names parts) or voice (V:) starts: abc2midi follows
        its repeats afresh."""
        self.repeat = IMPLICIT
        self.first_ending = self.second_ending = self.bar_closed = self.fresh_endings = False
        self.first_open = False

    def _bar_prefix(self, token: str) -> bool:
        """Can a bar line that starts with ``token`` still be right?"""
        self.bar = token
        if self.decorated or self.chord or self.grace:
            return False
        return any(self._bar_ok(token + more) for more in ("", "|", ":", "]", "1", "2", "|1", "|2"))

    def _finish_bar(self) -> bool:
        token, self.bar = self.bar, ""
        if not self._bar_ok(token):
            return False
        self._apply_bar(token)
        return True

    def _split_bar(self, token: str) -> tuple[str, int]:
        """The bar line and the (first) number of the ending it starts ("|1,3": 1)."""
        m = re.fullmatch(r"(.*?)(?:(\d+)[\d,-]*)?", token)
        assert m is not None
        return m.group(1), int(m.group(2)) if m.group(2) else 0

    def _bar_ok(self, token: str) -> bool:
        return copy.copy(self)._apply_bar(token)

    def _apply_bar(self, token: str) -> bool:
        lines, ending = self._split_bar(token)
        self.pos = Fraction(0)
        self.after_grace = False
        if lines not in BAR_LINES and lines != "[":  # "[": an ending's "[1"
            return False
        if lines == "|]" and self.repeat == OPEN:
            return False  # an end before the repeat's ":|" (never in the corpus)
        if (self.repeat == OPEN or self.first_open) and not lines.startswith(":"):
            most = MOST_ENDING_BARS if self.first_open else MOST_REPEAT_BARS
            if self.repeat_bars >= most:
                return False  # the repeat has run past the corpus's longest: close it
            self.repeat_bars += 1
        if set(lines) == {":"}:  # ":" opens, as "|:"; "::" closes and opens
            close, opens = len(lines) > 1, True
        else:  # ":|:" and ":||:" close only, as abc2midi reads them
            close = lines.startswith(":")
            opens = lines.endswith(":") and not close
        closed_before = self.bar_closed
        if opens:
            self.repeat_bars = 0
        if close and opens:  # ::, :|:, :||:
            if self.repeat == CLOSED:
                return False  # abc2midi: "found :: before |:"
            self.repeat = OPEN
            self.first_ending = self.second_ending = False
        elif close:
            self.repeat = CLOSED
            self.fresh_endings = self.fresh_endings or self.second_ending
            self.second_ending = False
        elif opens:
            if self.repeat == OPEN:
                return False  # abc2midi: "found another |: after a |:"
            self.repeat = OPEN
            self.first_ending = self.second_ending = False
        elif lines in ("||", "|]", "[|"):
            self.fresh_endings = self.fresh_endings or self.second_ending
            self.second_ending = False
            self.first_ending = False
        self.bar_closed = close and not opens
        if close:
            self.first_open = False
        if ending and self.first_open and not close:
            return False  # abc2midi: "Need || |: :| or :: to mark end of variant ending"
        if ending == 1:
            if self.second_ending:
                return False  # abc2midi: "Need || |: :| or :: to mark end of variant ending"
            if self.repeat == CLOSED and not self.fresh_endings:
                return False  # abc2midi: "found [1 or like before |:"
            self.first_ending = self.first_open = True
            self.fresh_endings = False
            self.repeat_bars = 0
        elif ending >= 2:
            if not (self.first_ending and (close or closed_before)):
                return False  # abc2midi: "found [1 or like before |:"
            self.second_ending = True
        return True
