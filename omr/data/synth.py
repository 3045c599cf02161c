"""Synthesized staves' music: random content covering what real melodies rarely show.

Every position from four ledger lines below the staff to four above, every duration from a
whole note to a 64th with one or two dots, rests, all printed accidentals (doubles too), the
four clefs with changes inside the line, every key signature and 26 time signatures (with
changes inside the line where asked).  Bars are filled exactly to the metre, so beams group
as in engraved music.
"""

from __future__ import annotations

import numpy as np

from stave.stavetext import CLEFS, Bar, Clef, Duration, Key, Note, Rest, Time, Token

# Every metre a printed melody is likely to show, the rarer ones often enough to be learned:
# the recognizer reads a time signature as its numerator and denominator digits, so each
# digit is seen in many metres.
TIMES = (
    (4, 4), (3, 4), (2, 4), (6, 8), (2, 2), (3, 8), (9, 8), (12, 8), (5, 4), (3, 2), (7, 8),
    (6, 4), (5, 8), (4, 2), (2, 8), (4, 8), (6, 16), (12, 16), (1, 4), (7, 4), (10, 8), (11, 8),
    (9, 4), (3, 16), (8, 8), (2, 1),
)  # fmt: skip
TIME_WEIGHTS = np.array(
    (14, 11, 10, 10, 7, 7, 6, 6, 4, 4, 4, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1), dtype=float
)
TIME_WEIGHTS /= TIME_WEIGHTS.sum()
TIME_PRINTED = 0.65  # share of staves that start with a time signature
CLEF_WEIGHTS = (0.5, 0.3, 0.1, 0.1)
# (base, dots) with weights: quarters and eighths most, 64ths and double dots rare.
DURATIONS = (
    ((1, 0), 0.04),
    ((2, 0), 0.1),
    ((4, 0), 0.22),
    ((8, 0), 0.22),
    ((16, 0), 0.12),
    ((32, 0), 0.04),
    ((64, 0), 0.01),
    ((2, 1), 0.05),
    ((4, 1), 0.07),
    ((8, 1), 0.05),
    ((16, 1), 0.02),
    ((32, 1), 0.01),
    ((1, 1), 0.01),
    ((2, 2), 0.01),
    ((4, 2), 0.02),
    ((8, 2), 0.01),
)
ACCIDENTAL_CHOICES = (1, -1, 0, 2, -2)
ACCIDENTAL_WEIGHTS = (0.35, 0.35, 0.22, 0.04, 0.04)


def _step(rng: np.random.Generator) -> int:
    """Mostly on the staff and just beyond it; one in five far out on ledger lines."""
    if rng.random() < 0.8:
        return int(rng.integers(0, 13))  # from the first ledger line below to the first above
    return int(rng.integers(-6, 19))


def random_stave(rng: np.random.Generator, metre_changes: float = 0.0) -> tuple[list[Token], float]:
    """One random stave line and its beat in quarters (for beaming, the first metre's).
    ``metre_changes``: the chance that a bar after the first starts in a new metre, its time
    signature printed there (none drawn at 0: the staves are those of older builds)."""
    clef = str(rng.choice(CLEFS, p=CLEF_WEIGHTS))
    key = int(rng.integers(-7, 8))
    num, den = TIMES[rng.choice(len(TIMES), p=TIME_WEIGHTS)]
    tokens: list[Token] = [Clef(clef), Key(key)]
    if rng.random() < TIME_PRINTED:
        tokens.append(Time(num, den))
    bar_quarters = num * 4 / den
    beat = beat_quarters(Time(num, den))
    durs = [Duration(b, d) for (b, d), _ in DURATIONS]
    weights = np.array([w for _, w in DURATIONS])
    n_bars = int(rng.integers(1, 6))
    for bar in range(n_bars):
        if bar > 0 and rng.random() < 0.04:
            clef = str(rng.choice([c for c in CLEFS if c != clef]))
            tokens.append(Clef(clef))
        if bar > 0 and rng.random() < 0.03:
            key = int(rng.choice([k for k in range(-7, 8) if k != key]))
            tokens.append(Key(key))
        if bar > 0 and metre_changes > 0 and rng.random() < metre_changes:
            others = [i for i, t in enumerate(TIMES) if t != (num, den)]
            chances = TIME_WEIGHTS[others] / TIME_WEIGHTS[others].sum()
            num, den = TIMES[others[rng.choice(len(others), p=chances)]]
            tokens.append(Time(num, den))
            bar_quarters = num * 4 / den
        left = bar_quarters
        rest_rate = float(rng.uniform(0.05, 0.25))
        acc_rate = float(rng.uniform(0.05, 0.3))
        while left > 1e-6:
            fits = np.array([d.quarter_length <= left + 1e-6 for d in durs])
            if not fits.any():
                break
            p = weights * fits
            d = durs[rng.choice(len(durs), p=p / p.sum())]
            left -= d.quarter_length
            if rng.random() < rest_rate:
                tokens.append(Rest(d))
            else:
                acc = None
                if rng.random() < acc_rate:
                    acc = int(rng.choice(ACCIDENTAL_CHOICES, p=ACCIDENTAL_WEIGHTS))
                tokens.append(Note(_step(rng), acc, d))
        if bar < n_bars - 1 or rng.random() < 0.85:
            tokens.append(Bar())
    return tokens, beat


def beat_quarters(time: Time | None) -> float:
    """The beat notes are beamed by, in quarters: three eighths (or sixteenths) in compound
    metres (3/8, 6/8, 9/8, 12/8, 6/16, ...), else a quarter."""
    if time is not None and time.denominator in (8, 16) and time.numerator % 3 == 0:
        return 3 * 4 / time.denominator
    return 1.0
