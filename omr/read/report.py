"""``omr.extract --report``: what to look at again, stave by stave.  A CSV row per stave read
(file, page, stave, the recognizer's confidence, bars checked, what looks wrong), and a
warning naming file and stave where a stave looks missed (five lines on the page that were
not read) or a read stave's bars do not add up to its time signature."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from stave.stavetext import Bar, Duration, Note, Rest, Time, Token, write_token


@dataclass(frozen=True)
class BarProblem:
    stave: int  # 0-based, in the file's reading order
    bar: int  # 1-based, within its stave
    quarters: float
    time: Time

    def __str__(self) -> str:
        return (
            f"bar {self.bar} holds {self.quarters:g} quarters, "
            f"{write_token(self.time)} wants {self.time.quarters:g}"
        )


def bar_problems(lines: Sequence[Sequence[Token]]) -> tuple[list[BarProblem], list[int]]:
    """The bars of a file's staves that do not fill their time signature, and how many bars
    each stave had checked.  A bar runs from one bar line to the next, across a line break;
    the file's first bar may be short (a pickup); bars before any time signature are not
    checked (nothing to check them by).  Tuplets are not written in stave text, so a bar of
    triplets is reported: it looks wrong to this check."""
    problems: list[BarProblem] = []
    checked = [0] * len(lines)
    time: Time | None = None
    quarters, first = 0.0, True
    for k, line in enumerate(lines):
        bar = 1
        for tok in line:
            if isinstance(tok, Time):
                time = tok
            elif isinstance(tok, Note | Rest):
                quarters += (tok.duration or Duration(4)).quarter_length
            elif isinstance(tok, Bar) and quarters > 0:
                if time is not None:
                    checked[k] += 1
                    short_pickup = first and quarters < time.quarters
                    if abs(quarters - time.quarters) > 1e-6 and not short_pickup:
                        problems.append(BarProblem(k, bar, quarters, time))
                bar += 1
                quarters, first = 0.0, False
    return problems, checked


COLUMNS = ["file", "page", "stave", "confidence", "bars_checked", "problem"]


def rows(
    source: str,
    pages: Sequence[int],
    confidence: Sequence[float],
    lines: Sequence[Sequence[Token]],
    unread: Sequence[tuple[int, float]],
) -> tuple[list[list[object]], list[str]]:
    """The CSV rows of one file and its warnings (each naming the file and the stave or
    page).  ``pages``: the page of each stave (1-based)."""
    problems, checked = bar_problems(lines)
    out: list[list[object]] = []
    warnings: list[str] = []
    for k in range(len(lines)):
        mine = [str(p) for p in problems if p.stave == k]
        page = pages[k] if k < len(pages) else ""
        sure = f"{confidence[k]:.4f}" if k < len(confidence) else ""
        out.append([source, page, k + 1, sure, checked[k], "; ".join(mine)])
        warnings.extend(f"{source} stave {k + 1}: {m}" for m in mine)
    for page, y in unread:
        what = f"five lines near y={y:.0f} were not read (a stave of another size?)"
        out.append([source, page + 1, "", "", "", what])
        warnings.append(f"{source} page {page + 1}: {what}")
    return out, warnings


def csv_text(all_rows: Sequence[Sequence[object]]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(all_rows)
    return text.getvalue()
