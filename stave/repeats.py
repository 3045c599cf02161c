"""Repeats and endings of an ABC tune, read from its bar lines and played as abc2midi plays
them.

abc2midi's rules (checked against abc2midi 4.84, ``tests/test_repeats.py``):

- a section repeats from the last ``|:``, else from the last ``:|`` (or ``::``), else from
  the start of the tune; a ``||``, ``|]`` or ``[|`` starts one only once a ``:|`` has been
  played through, and not where it closes an ending;
- ``:|`` sends the player back once; in a section with endings, as many times as its
  highest ending number asks (``[1 ... :|[2 ... :|[3 ...`` plays three times);
- an ending ``[1``, ``|2``, ``:|[2``, ``[1,3``, ``[1-2`` is played on the passes it names and
  skipped on the others, up to the next ending or past the next ``:|``.

``structure`` reads the bars; ``play_order`` gives the bars in playing order and
``expand`` the tune written out without repeats, which music21 then reads for MIDI.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from music21 import bar as m21bar
from music21 import spanner, stream

from stave.abc import FIELD

# A bar line: any run of ':' '|' '[' ']' holding a '|' ("|", "||", "|]", "[|", "|:", ":|",
# ":||:", ":|]"), or "::".  Chords ("[CEG]") and inline fields ("[K:G]") are read before it.
_BAR = re.compile(r":*\[?\|[\]|]*:*|::+")
# An ending's numbers, right after a bar line or after "[": "1", "2", "1,3", "1-3".
_ENDING = re.compile(r"\[?\s*([1-9][0-9]*(?:\s*[-,]\s*[1-9][0-9]*)*)")
_NOT_NOTES = re.compile(r'"[^"]*"|![^!]*!|\[[A-Za-z]:[^\]]*\]')  # text, decorations, fields
# Quoted text and decorations ("!trill!", "+trill+"), where a '|' is no bar line; a lone
# '!' or '+' (old line-break and chord marks) is just text.
_SKIP = re.compile(r'"[^"]*"|![^!\s|]+!|\+[^+\s|]+\+')


@dataclass
class Bar:
    """The music between two bar lines, and what the bar lines around it say."""

    text: str = ""
    starts_repeat: bool = False  # "|:" before it
    ends_repeat: bool = False  # ":|" after it
    ending: tuple[int, ...] = ()  # an ending starts with this bar, played on these passes
    ends_section: bool = False  # "||" or "|]" after it

    @property
    def has_music(self) -> bool:
        return bool(re.search(r"[A-Ga-gz]", _NOT_NOTES.sub("", self.text)))


def _numbers(spec: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in spec.replace(" ", "").split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return tuple(out)


def _scan_line(line: str, bars: list[Bar]) -> None:
    """Add one music line's bars to ``bars`` (the last one is still open)."""
    i = 0
    while i < len(line):
        c = line[i]
        if c == "%":
            break
        skip = _SKIP.match(line, i) if c in '"!+' else None
        if skip:
            bars[-1].text += skip.group(0)
            i = skip.end()
            continue
        if c == "[" and i + 2 < len(line) and line[i + 1].isalpha() and line[i + 2] == ":":
            j = line.find("]", i)  # an inline field: kept with the bar's music
            j = len(line) if j < 0 else j + 1
            bars[-1].text += line[i:j]
            i = j
            continue
        if c == "[" and i + 1 < len(line) and (line[i + 1].isdigit()):
            m = _ENDING.match(line, i)
            assert m is not None
            if bars[-1].has_music:
                bars.append(Bar())
            bars[-1].ending = _numbers(m.group(1))
            i = m.end()
            continue
        if line.startswith("[|]", i):  # an invisible bar line
            bars[-1].ends_section = True
            bars.append(Bar())
            i += 3
            continue
        m = _BAR.match(line, i) if c in ":|[" else None
        if (m and "|" in m.group(0)) or (m and m.group(0).startswith("::")):
            token = m.group(0)
            if token.startswith(":"):
                bars[-1].ends_repeat = True
            elif token in ("||", "|]", "[|", "[|]", "||]"):
                bars[-1].ends_section = True
            bars.append(Bar(starts_repeat=token.endswith(":")))
            i = m.end()
            ending = _ENDING.match(line, i)
            if ending and (token.endswith("|") or token.endswith("[")) and not token.endswith(":"):
                # "|1", ":|2", "|[2", "| [2" (an ending right after the bar line)
                rest = line[i : ending.end()]
                if rest.lstrip().startswith("[") or not rest[:1].isspace():
                    bars[-1].ending = _numbers(ending.group(1))
                    i = ending.end()
            continue
        bars[-1].text += c
        i += 1


def structure(body: str) -> list[Bar]:
    """The bars of a tune body (the lines after ``K:``), each with its repeat marks; bars
    with no notes (between two adjacent bar lines) are merged into their neighbours.

    A field line that changes how notes read (``K:``, ``M:``, ``L:``, ``Q:``, ``V:``) is
    kept in place as an inline field (``[K:G]``); other field lines (lyrics, notes) and
    comments are left out.
    """
    bars = [Bar()]
    for line in body.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            continue
        if FIELD.match(stripped):
            if stripped[0] in "KMLQV":
                bars[-1].text += f"[{stripped[0]}:{stripped[2:].strip()}] "
            continue
        if stripped.endswith("\\"):
            stripped = stripped[:-1]
        _scan_line(stripped, bars)
        bars[-1].text += "\n"
    merged: list[Bar] = []
    pending = Bar()
    for bar in bars:
        pending.starts_repeat |= bar.starts_repeat
        pending.ending = bar.ending or pending.ending
        pending.text += bar.text
        if bar.has_music:
            bar.starts_repeat, bar.ending = pending.starts_repeat, pending.ending
            bar.text = pending.text
            merged.append(bar)
            pending = Bar()
        elif merged:
            merged[-1].ends_repeat |= bar.ends_repeat
            merged[-1].ends_section |= bar.ends_section
    if pending.text.strip() and merged:
        merged[-1].text += pending.text
    return merged


def play_order(bars: list[Bar], limit: int = 10_000) -> list[int]:
    """Indices of ``bars`` in the order abc2midi plays them."""
    order: list[int] = []
    loop_start, passes = 0, 1
    jumped: dict[int, int] = {}  # ":|" bar -> times it has sent the player back
    passed_repeat = False  # has a ":|" been played through?
    ending: tuple[int, ...] = ()  # the ending being played
    i = 0
    while i < len(bars) and len(order) < limit:
        bar = bars[i]
        if bar.starts_repeat and not (i == loop_start and passes > 1):
            loop_start, passes, ending = i, 1, ()
        if bar.ending:
            ending = bar.ending
            if passes not in bar.ending:
                # Skipped: up to the next ending, or past the next ":|" or "||".
                j = i
                while j < len(bars):
                    if j > i and (bars[j].ending or bars[j].starts_repeat):
                        break
                    j += 1
                    if bars[j - 1].ends_repeat or bars[j - 1].ends_section:
                        break
                ending = ()
                i = j
                continue
        order.append(i)
        if bar.ends_repeat:
            # A ":|" sends the player back once, or once per pass its ending is played on.
            allowed = max(1, len(ending) if ending else 1)
            if jumped.get(i, 0) < allowed:
                jumped[i] = jumped.get(i, 0) + 1
                passes += 1
                ending = ()
                i = loop_start
                continue
            loop_start, passes, ending = i + 1, 1, ()
            passed_repeat = True
        elif bar.ends_section:
            if passed_repeat and not ending:
                # after a ":|" played through, "||" starts a section too (not where it
                # closes an ending)
                loop_start, passes = i + 1, 1
            ending = ()
        i += 1
    return order


def has_repeats(bars: list[Bar]) -> bool:
    return any(b.starts_repeat or b.ends_repeat or b.ending for b in bars)


def split_tune(text: str) -> tuple[list[str], str]:
    """(header lines up to and including ``K:``, body)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("K:"):
            return lines[: i + 1], "\n".join(lines[i + 1 :])
    return lines, ""


def part_order(header: list[str]) -> str | None:
    """The order of parts a header's ``P:`` field asks for (``P:ABA``, ``P:A2B``,
    ``P:(AB)2C``, dots ignored) as a string of part labels; None without one."""
    spec = next((h[2:].strip() for h in header if h.startswith("P:")), None)
    if not spec:
        return None
    spec = spec.replace(".", "").replace(" ", "")

    def parse(i: int) -> tuple[str, int]:
        out = ""
        while i < len(spec) and spec[i] != ")":
            if spec[i] == "(":
                group, i = parse(i + 1)
                i += 1  # ")"
            elif spec[i].isalpha():
                group, i = spec[i], i + 1
            else:
                i += 1
                continue
            count = re.match(r"\d*", spec[i:])
            assert count is not None
            times = int(count.group(0)) if count.group(0) else 1
            out += group * times
            i += len(count.group(0))
        return out, i

    order = parse(0)[0]
    return order if len(order) > 1 else None


def split_parts(body: str) -> tuple[str, dict[str, str]]:
    """The body before the first ``P:`` line, and each part's body by its label."""
    prelude: list[str] = []
    parts: dict[str, list[str]] = {}
    current = prelude
    body = re.sub(r"\[P:\s*([A-Za-z])[^\]]*\]", r"\nP:\1\n", body)  # inline part labels
    for line in body.split("\n"):
        m = re.match(r"^P:\s*([A-Za-z])", line.strip())
        if m:
            current = parts.setdefault(m.group(1), [])
        else:
            current.append(line)
    return "\n".join(prelude), {k: "\n".join(v) for k, v in parts.items()}


def played_lines(body: str) -> list[str]:
    """A body's bars in playing order, four to a line."""
    bars = structure(body)
    order = [bars[i].text.replace("\n", " ").strip() + " |" for i in play_order(bars)]
    return [" ".join(order[k : k + 4]) for k in range(0, len(order), 4)]


def needs_expanding(text: str) -> bool:
    """Does the tune repeat anything (repeat signs, endings, or a ``P:`` order of parts)?"""
    header, body = split_tune(text)
    return part_order(header) is not None or has_repeats(structure(body))


def expand(text: str) -> str:
    """The tune with its repeats, endings and order of parts written out as abc2midi plays
    them (plain bar lines only); a tune that repeats nothing is returned as it is."""
    if not needs_expanding(text):
        return text
    header, body = split_tune(text)
    order = part_order(header)
    if order is None:
        return "\n".join([*header, *played_lines(body)])
    prelude, parts = split_parts(body)
    lines = played_lines(prelude) if structure(prelude) else []
    for label in order:
        if label in parts:
            lines += played_lines(parts[label])
    header = [h for h in header if not h.startswith("P:")]
    return "\n".join([*header, *lines])


def mark_repeats(part: stream.Part, bars: list[Bar]) -> bool:
    """Set the repeat bar lines and endings of ``part`` (music21's reading of the tune) from
    ``bars``, so that MuseScore plays what abc2midi plays; False (nothing changed) when the
    part's bars do not line up with them.

    A section that repeats from just after an earlier ``:|`` gets a printed ``|:``
    (MuseScore, like MusicXML, would otherwise go back to the start).
    """
    measures = [m for m in part.getElementsByClass(stream.Measure) if m.notesAndRests]
    if len(measures) != len(bars):
        return False
    for sp in list(part.spannerBundle.getByClass(spanner.RepeatBracket)):
        part.remove(sp, recurse=True)
    for m in part.getElementsByClass(stream.Measure):
        if isinstance(m.leftBarline, m21bar.Repeat):
            m.leftBarline = None
        if isinstance(m.rightBarline, m21bar.Repeat):
            m.rightBarline = m21bar.Barline("regular")
    order = play_order(bars)
    steps = list(itertools.pairwise(order))
    targets = {b for a, b in steps if b <= a}
    jumps = {a: sum(1 for x, y in steps if x == a and y <= x) for a in order}
    for i, m in enumerate(measures):
        if i in targets and i > 0:
            m.leftBarline = m21bar.Repeat(direction="start")
        if jumps.get(i):
            m.rightBarline = m21bar.Repeat(direction="end", times=jumps[i] + 1)
    i = 0
    first_length = 1
    while i < len(bars):
        if not bars[i].ending:
            i += 1
            continue
        j = i
        while True:  # the ending runs to its ":|", a "||", the next ending or section
            if bars[j].ends_repeat or bars[j].ends_section or j + 1 >= len(bars):
                break
            if bars[j + 1].ending or bars[j + 1].starts_repeat:
                break
            repeat_ahead = any(bars[k].ends_repeat for k in range(j, len(bars)))
            if not repeat_ahead and j - i + 1 >= first_length:
                break
            j += 1
        if bars[i].ending[0] == 1 or i == 0 or not bars[i - 1].ending:
            first_length = j - i + 1
        number = ",".join(str(n) for n in bars[i].ending)
        bracket = spanner.RepeatBracket(measures[i : j + 1], number=number)
        part.insert(0, bracket)
        i = j + 1
    return True
