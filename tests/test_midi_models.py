"""The MIDI-event LSTM and the chord GAN: loss shape, learning, MIDI round trips, bad files,
resume, sampling and the measures."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import mido
import numpy as np
import pytest
import torch

from generate import evaluate as gen_evaluate
from generate import sample as gen_sample
from generate import train as gen_train
from generate.checkpoint import (
    DEFAULT_MODEL_WEIGHTS,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from generate.midi.data import chorale_voices, event_windows, voice_segments
from generate.midi.events import event_array
from generate.midi.gan import ChordGAN, ChordGANConfig
from generate.midi.io import (
    LOWEST,
    MidiError,
    NoteEvent,
    piano_roll,
    read_midi,
    read_midi_folder,
    roll_notes,
    write_midi,
)
from generate.midi.lstm import MidiLSTM, MidiLSTMConfig, MidiSoftmaxLSTM, interval_penalty
from generate.midi.metrics import chord_rate, measure, pitch_class_histogram
from generate.midi.train import MidiTrainConfig, train_midi
from generate.ship import ship
from tests.conftest import open_in_musescore


def penalty(semitones: float) -> float:
    return float(interval_penalty(torch.tensor(semitones)))


def test_interval_penalty_has_its_intended_shape() -> None:
    assert penalty(0) == pytest.approx(0, abs=1e-5)
    for consonant, dissonant in [(7, 2), (5, 1), (7, 6), (5, 11), (12, 1), (-7, -2), (19, 14)]:
        assert penalty(consonant) < penalty(dissonant) - 0.3, (consonant, dissonant)
    assert penalty(12) < 0.1  # same pitch class an octave off: small
    assert penalty(24) > penalty(12) > penalty(0)  # but the right octave is still preferred
    assert penalty(5) == pytest.approx(penalty(-5))
    # Smooth: no jumps between whole semitones.
    d = torch.linspace(-14, 14, 2801)
    assert float(interval_penalty(d).diff().abs().max()) < 0.05


def scale_piece(repeats: int = 6) -> list[NoteEvent]:
    notes, t = [], 0.0
    for _ in range(repeats):
        for p in (60, 62, 64, 65, 67, 65, 64, 62):
            notes.append(NoteEvent(p, 90, t, 0.5))
            t += 0.5
    return notes


@pytest.mark.slow
def test_midi_lstm_overfits_a_tiny_dataset(tmp_path: Path) -> None:
    events = torch.from_numpy(event_array(scale_piece())).unsqueeze(0)  # (1, N, 3)

    def exact_loss(model: MidiLSTM) -> float:
        with torch.no_grad():
            pred, _ = model(events[:, :-1])
            return model.loss(pred, events[:, 1:])[0].item()

    torch.manual_seed(0)
    before = exact_loss(MidiLSTM(MidiLSTMConfig()))
    loop = MidiTrainConfig(
        batch_size=8,
        seq_len=24,
        learning_rate=1e-2,
        max_steps=600,
        eval_every=100,
        val_fraction=0.0,
    )
    _, reason = train_midi(tmp_path / "run", [events[0].numpy()], MidiLSTMConfig(), loop)
    assert reason == "budget"
    model = load_checkpoint(tmp_path / "run" / "latest.pt").build_model()
    assert isinstance(model, MidiLSTM)
    after = exact_loss(model)
    assert after < 0.3 * before, (before, after)


@pytest.mark.slow
def test_chord_gan_learns_a_tiny_dataset(tmp_path: Path) -> None:
    """Trained on one progression (C major then G major triads), the generator's notes fall
    on those chords' keys rather than anywhere."""
    torch.manual_seed(0)
    roll = np.zeros((64, 88), np.uint8)
    for t in range(64):
        chord = (60, 64, 67) if (t // 8) % 2 == 0 else (55, 59, 62)
        roll[t, [p - LOWEST for p in chord]] = 1
    loop = MidiTrainConfig(
        batch_size=16, learning_rate=2e-3, max_steps=250, eval_every=50, transpose=0
    )
    config = ChordGANConfig(steps=16, noise_dim=16, generator_channels=64, critic_channels=16)
    run, _ = train_midi(tmp_path / "gan", [roll], config, loop)
    gan = load_checkpoint(tmp_path / "gan" / "latest.pt").build_model()
    made = gan.generate(32).numpy()  # type: ignore[operator]
    keys = [p - LOWEST for p in (60, 64, 67, 55, 59, 62)]
    on = made.sum()
    assert on > 0
    assert made[:, :, keys].sum() / on > 0.8  # by chance: 6 keys of 88
    assert 1.5 < on / (32 * 16) < 4.5  # about three notes at a time, as in the data
    distance = run.state.curves["wasserstein"]
    assert len(distance) >= 5


def test_midi_written_reads_back_with_mido(tmp_path: Path) -> None:
    notes = [
        NoteEvent(60, 100, 0.0, 1.0),
        NoteEvent(64, 80, 0.0, 1.0),
        NoteEvent(67, 70, 1.5, 0.25),
    ]
    write_midi(tmp_path / "x.mid", notes)
    mid = mido.MidiFile(str(tmp_path / "x.mid"))
    ons = [m for m in mid.tracks[0] if m.type == "note_on" and m.velocity > 0]
    assert [m.note for m in ons] == [60, 64, 67]
    assert read_midi(tmp_path / "x.mid") == notes
    assert roll_notes(piano_roll(notes, 4), 4) == [
        NoteEvent(n.pitch, 80, n.start, n.duration) for n in notes
    ]


def test_corrupt_midi_in_a_folder_is_reported_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_midi(tmp_path / "good.mid", scale_piece(1))
    (tmp_path / "bad.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01garbage")
    (tmp_path / "empty.midi").write_bytes(b"")
    pieces = read_midi_folder(tmp_path)
    assert len(pieces) == 1 and len(pieces[0]) == 8
    err = capsys.readouterr().err
    assert "bad.mid" in err and "empty.midi" in err
    with pytest.raises(MidiError, match=r"bad\.mid"):
        read_midi(tmp_path / "bad.mid")


def test_train_resume_and_sample_through_the_commands(tmp_path: Path, mscore3: str) -> None:
    src = tmp_path / "midi"
    src.mkdir()
    for i in range(3):
        write_midi(
            src / f"p{i}.mid",
            [NoteEvent(n.pitch + i, n.velocity, n.start, n.duration) for n in scale_piece(3)],
        )
    run = tmp_path / "run"
    common = ["--model", "midi-lstm", "--midi-dir", str(src), "-o", str(run), "--eval-every", "10"]
    assert gen_train.main([*common, "--max-steps", "20"]) == 0
    first = load_checkpoint(run / "latest.pt")
    assert first.trainer_state is not None and first.trainer_state["loop"]["step"] == 20
    assert gen_train.main([*common, "--max-steps", "30", "--resume"]) == 0
    again = load_checkpoint(run / "latest.pt")
    assert again.trainer_state is not None
    state = again.trainer_state["loop"]
    assert state["step"] == 30
    assert [s for s, _ in state["curves"]["validation"]] == [10, 20, 30]
    assert (run / "loss.png").stat().st_size > 1000
    shipped = tmp_path / "shipped.pt"
    info = ship(run / "latest.pt", shipped)  # (best.pt: whichever validated best)
    assert info["step"] == 30 and [s for s, _ in info["curves"]["validation"]] == [10, 20, 30]
    assert load_checkpoint(shipped).trainer_state is None
    out = tmp_path / "samples"
    rc = gen_sample.main(
        [
            "--model",
            "midi-lstm",
            "--checkpoint",
            str(run / "best.pt"),
            "--num",
            "2",
            "--length",
            "24",
            "--seed",
            "0",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    assert read_midi(out / "sample-001.mid")
    open_in_musescore(mscore3, out / "sample-001.musicxml", tmp_path)


def test_measures_tell_music_from_noise() -> None:
    chords = np.zeros((64, 88), np.uint8)
    for t in range(64):
        chords[t, [p - LOWEST for p in ((60, 64, 67) if t < 32 else (57, 60, 64))]] = 1
    noise = (np.random.default_rng(0).random((64, 88)) < 0.05).astype(np.uint8)
    m_chords = measure([chords], 4, reference=[chords])
    m_noise = measure([noise], 4, reference=[chords])
    assert m_chords.in_scale == 1.0 and m_chords.upc == pytest.approx(3.0)
    assert m_chords.polyphony == 1.0 and m_chords.empty_bars == 0.0 and m_chords.pch_distance == 0.0
    assert m_noise.upc > 8 and m_noise.in_scale < 0.9 and m_noise.pch_distance > 0.3
    assert pitch_class_histogram([chords]).sum() == pytest.approx(1.0)
    assert m_chords.chords == 1.0 and m_noise.chords < 0.3
    # the same music a tone higher: other keys, the same scale degrees
    higher = np.roll(chords, 2, axis=1)
    m_higher = measure([higher], 4, reference=[chords])
    assert m_higher.pch_distance > 0.3 and m_higher.key_pch_distance == pytest.approx(0.0)
    assert m_noise.key_pch_distance > 0.2


def test_chord_rate_knows_triads_and_sevenths() -> None:
    def rate(*steps: tuple[int, ...]) -> float:
        roll = np.zeros((len(steps), 88), np.uint8)
        for t, pitches in enumerate(steps):
            roll[t, [p - LOWEST for p in pitches]] = 1
        return chord_rate([roll])

    assert rate((60, 64, 67, 72)) == 1.0  # C major, the root doubled
    assert rate((57, 60, 64), (59, 62, 65), (60, 64, 68)) == 1.0  # minor, diminished, augmented
    assert rate((55, 59, 62, 65), (48, 64, 70)) == 1.0  # G7; C7 without its fifth
    assert rate((60, 62, 64), (60, 61, 62, 63)) == 0.0  # clusters
    assert rate((60, 67), (60, 64, 67)) == 1.0  # two pitch classes do not count
    assert np.isnan(rate((60,), (60, 67)))


@pytest.mark.slow
def test_shipped_checkpoints_sample_and_measure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fluidsynth: str
) -> None:
    for model in ("midi-lstm", "chord-gan"):
        path = DEFAULT_MODEL_WEIGHTS[model]
        assert path.exists(), f"{path} ships with the repository"
        assert load_checkpoint(path).trainer_state is None
        out = tmp_path / model
        assert gen_sample.main(["--model", model, "--num", "2", "--seed", "1", "-o", str(out)]) == 0
        assert read_midi(out / "sample-002.mid")
        assert (out / "sample-002.png").stat().st_size > 1000
        assert (out / "sample-002.wav").read_bytes()[:4] == b"RIFF"  # audio, FluidSynth here
    capsys.readouterr()
    assert gen_evaluate.main(["--model", "chord-gan", "--max-pieces", "6", "--num", "4"]) == 0
    printed = capsys.readouterr().out
    assert "chord-gan" in printed and "random baseline" in printed and "training data" in printed


def test_events_top_first_put_the_melody_before_its_harmony() -> None:
    chord = [NoteEvent(48, 80, 0.0, 1.0), NoteEvent(67, 80, 0.0, 1.0), NoteEvent(60, 80, 0.0, 1.0)]
    later = [NoteEvent(69, 80, 1.0, 1.0)]
    pitches = event_array(chord + later, top_first=True)[:, 0] * 12 + 60
    assert np.round(pitches).tolist() == [67, 60, 48, 69]
    deltas = event_array(chord + later, top_first=True)[:, 2]
    assert deltas.tolist() == [0.0, 0.0, 0.0, 0.25]  # a beat is a quarter of the scale


def test_softmax_lstm_targets_favour_consonant_keys() -> None:
    model = MidiSoftmaxLSTM(MidiLSTMConfig(arch="softmax", hidden_size=16, embed_size=8))
    targets = model.key_targets
    assert torch.allclose(targets.sum(dim=1), torch.ones(88))
    c4 = 60 - LOWEST
    row = targets[c4]
    assert int(row.argmax()) == c4 and row[c4] > 0.85  # mostly the true key
    # a fifth and an octave away weigh more than a second or a tritone away
    assert row[c4 + 7] > 5 * row[c4 + 2] and row[c4 + 12] > row[c4 + 6]
    assert row[c4 + 36] < row[c4 + 12] / 10  # faded over about an octave


def test_softmax_lstm_learns_a_scale_and_samples_it() -> None:
    torch.manual_seed(0)
    config = MidiLSTMConfig(arch="softmax", hidden_size=64, num_layers=1, embed_size=16)
    model = MidiSoftmaxLSTM(config)
    events = torch.from_numpy(event_array(scale_piece(), top_first=True)).unsqueeze(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        pred, _ = model(events[:, :-1], None, events[:, 1:])
        loss, figures = model.loss(pred, events[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert figures["interval"] < 0.1  # the seed's pitch penalty of a key drawn from it
    made = model.generate(events[0, :8], 16, temperature=0.0)
    keys = np.round(made[:, 0].numpy() * 12 + 60).astype(int).tolist()
    assert keys == [p.pitch for p in scale_piece()][8:24]
    assert np.allclose(made[:, 2].numpy(), 0.5 / 4)  # eighths, as in the data
    drawn = model.generate(events[0, :8], 64, temperature=1.0, generator=torch.Generator())
    assert drawn.shape == (64, 3) and bool(torch.isfinite(drawn).all())


def test_voice_gan_draws_at_most_four_keys_a_step() -> None:
    torch.manual_seed(0)
    config = ChordGANConfig(arch="voices", steps=16, noise_dim=8, generator_channels=16)
    gan = ChordGAN(config)
    soft = gan.generator(torch.randn(3, 8)).detach()
    assert soft.shape == (3, 16, 88) and float(soft.min()) >= 0 and float(soft.max()) <= 1
    rolls = gan.generate(5)
    assert rolls.shape == (5, 16, 88)
    assert set(torch.unique(rolls).tolist()) <= {0.0, 1.0}
    assert int(rolls.sum(-1).max()) <= 4
    assert gan.critic(rolls).shape == (5,)  # the seed's critic, unchanged


def test_chorale_voices_start_on_a_bar_line() -> None:
    from music21 import corpus

    pieces = chorale_voices(limit=12, key_normalised=True, progress=False)
    assert 5 <= len(pieces) <= 12
    for voices in pieces:  # (bars, eighths per bar, voices)
        assert voices.shape[1:] in ((8, 4), (6, 4)) and voices.dtype == np.uint8
        sounding = voices[voices < 88].astype(int) + LOWEST
        assert sounding.min() >= 36 and sounding.max() <= 84  # voices, not noise
    # A chorale that begins with a one-beat pickup: three beats of silence before it.
    path = sorted(str(p) for p in corpus.getComposer("bach"))[2]
    first = corpus.parse(path).parts[0].getElementsByClass("Measure").first()
    assert first.number == 0 and first.duration.quarterLength == 1.0
    third = chorale_voices(limit=3, key_normalised=False, progress=False)[-1]
    assert third.shape[1] == 8
    steps = third.reshape(-1, 4)
    assert (steps[:6] == 88).all() and (steps[6] < 88).all()
    segs = voice_segments([third], 4, 16, 0, np.random.default_rng(0))
    assert segs.shape == (4, 16, 88) and float(segs.sum(-1).max()) <= 4


def test_chorales_in_three_four_are_kept_as_bars_of_three_beats() -> None:
    from music21 import corpus, meter

    # The eighth of the first 12 corpus files (bwv11.6) is in 3/4 and starts on a full bar.
    path = sorted(str(p) for p in corpus.getComposer("bach"))[7]
    score = corpus.parse(path)
    assert {t.ratioString for t in score.recurse().getElementsByClass(meter.TimeSignature)} == {
        "3/4"
    }
    pieces = chorale_voices(limit=12, key_normalised=False, progress=False)
    three = [v for v in pieces if v.shape[1] == 6]
    assert len(three) == 1 and (three[0][0, 0] < 88).all()  # four voices on the downbeat
    assert len(three[0]) == score.highestTime / 3  # 22 bars of three beats
    # Its segments: two bars of 3/4 (12 eighths) and silence to the segment's 16.
    segs = voice_segments(pieces, 6, 16, 0, np.random.default_rng(0), metre=6)
    assert segs.shape == (6, 16, 88)
    assert float(segs[:, 12:].sum()) == 0 and bool((segs[:, :12].sum(-1) > 0).all())
    with pytest.raises(ValueError, match="no piece has 2 bars of 6 eighths"):
        voice_segments(
            [v for v in pieces if v.shape[1] == 8], 1, 16, 0, np.random.default_rng(0), 6
        )


def test_a_voice_gan_of_two_metres_draws_bars_of_each(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = ChordGANConfig(
        arch="voices", steps=16, noise_dim=8, generator_channels=16, metres=(8, 6)
    )
    gan = ChordGAN(config)
    z = torch.randn(3, 8)
    soft = gan.generator(z, 6).detach()  # what the critic sees: 12 eighths, then silence
    assert soft.shape == (3, 16, 88) and float(soft[:, 12:].sum()) == 0
    assert float(soft[:, :12].sum()) > 0
    # Told the metre by a vector that starts at zero (bar one, its first five steps clear
    # of the next bar through the smoothing, the same in both) and once learned sets them
    # apart.
    assert torch.allclose(gan.generator(z, 8)[:, :5], soft[:, :5])
    assert gan.generator.metre is not None
    with torch.no_grad():
        gan.generator.metre.weight.normal_()
    assert not torch.allclose(gan.generator(z, 8)[:, :5], gan.generator(z, 6)[:, :5])
    assert gan.generate(5, metre=6).shape == (5, 12, 88)
    assert gan.generate(5).shape == (5, 16, 88)  # the first metre, 4/4
    # Saved and loaded with its metres.
    ckpt = load_checkpoint(DEFAULT_MODEL_WEIGHTS["chord-gan"])
    ckpt.config, ckpt.model_state = config, gan.state_dict()
    save_checkpoint(tmp_path / "two.pt", ckpt)
    again = load_checkpoint(tmp_path / "two.pt")
    assert again.config.metres == (8, 6)
    # One saved before there were metres (no such field, no metre vectors) loads as 4/4
    # and refuses 3/4.
    one = ChordGAN(ChordGANConfig(arch="voices", steps=16, noise_dim=8, generator_channels=16))
    ckpt.config, ckpt.model_state = one.config, one.state_dict()
    save_checkpoint(tmp_path / "one.pt", ckpt)
    payload = torch.load(tmp_path / "one.pt", weights_only=False)
    del payload["config"]["metres"]
    torch.save(payload, tmp_path / "old.pt")
    old = load_checkpoint(tmp_path / "old.pt")
    assert old.config.metres == (8,)
    with pytest.raises(ValueError, match="draws 4/4, not 3/4"):
        old.build_model().generate(1, metre=6)  # type: ignore[operator]
    payload = torch.load(tmp_path / "two.pt", weights_only=False)
    payload["config"]["metres"] = [8, 5]  # a metre no generator draws
    torch.save(payload, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="metres"):
        load_checkpoint(tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="eighths per bar"):
        ChordGANConfig(**{**config.__dict__, "metres": (8, 5)})
    with pytest.raises(ValueError, match="seed design draws 4/4 only"):
        ChordGANConfig(metres=(8, 6))


def test_train_refuses_a_design_of_the_other_model(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        gen_train.main(["--model", "midi-lstm", "--arch", "voices"])
    assert "not a design of midi-lstm" in capsys.readouterr().err


def test_checkpoints_from_before_the_designs_load_as_the_seed(tmp_path: Path) -> None:
    # The seed designs' shipped weights, kept beside the new ones: saved with no arch.
    for model in ("midi-lstm", "chord-gan"):
        seed = DEFAULT_MODEL_WEIGHTS[model].with_name(f"{model}-seed.pt")
        ckpt = load_checkpoint(seed)
        assert ckpt.config.arch == "seed"
        assert "arch" not in torch.load(seed, weights_only=False)["config"]
        assert load_checkpoint(DEFAULT_MODEL_WEIGHTS[model]).config.arch != "seed"
    ckpt = load_checkpoint(DEFAULT_MODEL_WEIGHTS["midi-lstm"].with_name("midi-lstm-seed.pt"))
    ckpt.config = MidiLSTMConfig(**{**ckpt.config.__dict__, "arch": "transformer"})
    save_checkpoint(tmp_path / "odd.pt", ckpt)
    with pytest.raises(CheckpointError, match=r"config\.arch is 'transformer'"):
        load_checkpoint(tmp_path / "odd.pt")


def test_voice_gan_trains_resumes_and_samples_through_the_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mscore3: str
) -> None:
    run = tmp_path / "gan"
    common = ["--model", "chord-gan", "-o", str(run), "--max-pieces", "12", "--threads", "1"]
    small = ["--steps", "16", "--noise-dim", "8", "--batch-size", "8", "--eval-every", "2"]
    assert gen_train.main([*common, *small, "--max-steps", "4"]) == 0
    first = load_checkpoint(run / "latest.pt")
    assert first.config.arch == "voices"  # the default design
    assert first.config.metres == (8, 6)  # the first 12 files hold a chorale in 3/4
    assert first.info["data"]["key_normalised"] is True
    assert gen_train.main([*common, "--keys", "transposed", "--resume", "--max-steps", "6"]) == 2
    assert "--keys transposed" in capsys.readouterr().err
    assert gen_train.main([*common, "--resume", "--max-steps", "6"]) == 0
    again = load_checkpoint(run / "latest.pt")
    assert again.config == first.config
    assert again.trainer_state is not None and again.trainer_state["loop"]["step"] == 6
    out = tmp_path / "samples"
    ckpt = str(run / "latest.pt")
    rc = gen_sample.main(
        ["--model", "chord-gan", "--checkpoint", ckpt, "--num", "1", "--seed", "0", "-o", str(out)]
    )
    assert rc == 0
    notes = read_midi(out / "sample-001.mid")
    starts: dict[float, int] = {}
    for n in notes:
        starts[n.start] = starts.get(n.start, 0) + 1
    assert notes and max(starts.values()) <= 4  # four voices
    # In 3/4: the MIDI file and the MusicXML say so, and MuseScore reads bars of three beats.
    three = tmp_path / "three"
    args = ["--model", "chord-gan", "--checkpoint", ckpt, "--num", "1", "--seed", "0"]
    assert gen_sample.main([*args, "--metre", "3/4", "-o", str(three)]) == 0
    signatures = [
        (m.numerator, m.denominator)
        for m in mido.MidiFile(three / "sample-001.mid").tracks[0]
        if m.type == "time_signature"
    ]
    assert signatures == [(3, 4)]
    engraved = tmp_path / "engraved"
    engraved.mkdir()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(engraved))
    back = engraved / "back.musicxml"  # MuseScore's own MusicXML of what it read
    subprocess.run(
        [mscore3, "-o", str(back), str(three / "sample-001.musicxml")],
        check=True,
        capture_output=True,
        timeout=120,
        env=env,
    )
    from music21 import converter, meter

    read = converter.parse(back)
    assert {t.ratioString for t in read.recurse().getElementsByClass(meter.TimeSignature)} == {
        "3/4"
    }
    full = [m.duration.quarterLength for m in read.parts[0].getElementsByClass("Measure")]
    assert len(full) == 4 and set(full) == {3.0}  # two segments of two bars of 3/4
    # A model that learned 4/4 alone says so.
    seed = str(DEFAULT_MODEL_WEIGHTS["chord-gan"].with_name("chord-gan-seed.pt"))
    only = ["--model", "chord-gan", "--checkpoint", seed, "--metre", "3/4"]
    assert gen_sample.main([*only, "-o", str(tmp_path / "no")]) == 2
    assert "draws 4/4, not 3/4" in capsys.readouterr().err


def test_the_seed_designs_still_train_through_the_commands(tmp_path: Path) -> None:
    src = tmp_path / "midi"
    src.mkdir()
    write_midi(src / "p.mid", scale_piece(3))
    run = tmp_path / "run"
    args = ["--model", "midi-lstm", "--arch", "seed", "--midi-dir", str(src), "-o", str(run)]
    assert gen_train.main([*args, "--max-steps", "4", "--eval-every", "2"]) == 0
    ckpt = load_checkpoint(run / "latest.pt")
    assert ckpt.config.arch == "seed" and ckpt.config.hidden_size == 48
    assert ckpt.info["data"]["pieces"] == "events"  # in the seed's order: pitch upwards
    assert isinstance(ckpt.build_model(), MidiLSTM)


def test_event_windows_transpose_whole_windows_on_the_keyboard() -> None:
    notes = [NoteEvent(60 + (i % 2) * 7, 90, i * 0.5, 0.5) for i in range(40)]  # C4, G4, ...
    rng = np.random.default_rng(0)
    windows = event_windows([event_array(notes)], 64, 16, rng, transpose=6).numpy()
    keys = np.round(windows[:, :, 0] * 12 + 60).astype(int)
    shifts = np.minimum(keys[:, 0], keys[:, 1]) - 60  # each window's lower note is C4 moved
    assert set(shifts.tolist()) == set(range(-6, 7))  # every shift up to 6 either way
    assert ((keys.max(axis=1) - keys.min(axis=1)) == 7).all()  # the whole window alike
    assert np.allclose(windows[:, :, 1], 90 / 127)  # velocity and time untouched
    assert np.allclose(windows[:, 1:, 2], 0.5 / 4)
    low = [NoteEvent(22, 90, i * 0.5, 0.5) for i in range(40)]  # at the keyboard's bottom
    kept = event_windows([event_array(low)], 64, 8, rng, transpose=6).numpy()[:, :, 0]
    assert (np.round(kept * 12 + 60) >= 21).all()  # never off the keyboard


def test_sung_parts_are_picked_by_name_beside_instruments() -> None:
    from generate.midi.data import sung_parts

    assert sung_parts(["S", "A", "T", "B"]) == [0, 1, 2, 3]  # four parts: all, in order
    horns = ["Horn 1", "Horn 2", "Timpani", "Soprano", "Alto", "Tenor", "Bass"]
    assert sung_parts(horns) == [3, 4, 5, 6]
    # A name listing its doubling instruments on further lines (one chorale of music21 has them).
    doubled = ["Trumpet 1", "Timpani", "Soprano\rOboe 1,2", "Alto\rViolin 2", "Tenor", "Bass"]
    assert sung_parts(doubled) == [2, 3, 4, 5]
    assert sung_parts(["Soprano 1", "Soprano 2", "Alto", "Tenor", "Bass"]) is None
    assert sung_parts(["Violin", "Soprano", "Alto", "Tenor", "Organ"]) is None  # no bass
    assert sung_parts(["Soprano"]) is None
    assert sung_parts(["Bassoon", "Soprano", "Alto", "Tenor", "Bass"]) == [1, 2, 3, 4]
    assert sung_parts(["Soprano", "Alto", "Tenor", "Basso continuo", "Organ"]) is None


def test_palestrina_movements_are_read_as_bars_of_halved_notes(tmp_path: Path) -> None:
    from music21 import corpus

    from generate.midi.data import _voices, palestrina_voices

    pieces = palestrina_voices(limit=2, key_normalised=False, progress=False)
    assert len(pieces) == 2
    first = corpus.parse("palestrina/Agnus_03.krn")  # the first, in 4/2: 32 bars
    assert [p.partName for p in first.parts] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert pieces[0].shape == (first.highestTime / 8, 8, 4)  # a bar of 4/2 as one of 4/4
    # The soprano enters late: silent until its first note, which lasts half its quarters
    # in eighths (a quarter of 4/2 is an eighth of 4/4).
    soprano = first.parts[0].flatten().notes[0]
    a, b = int(soprano.offset), int(soprano.offset + soprano.quarterLength)
    assert a > 0 and b - a >= 2
    steps = pieces[0].reshape(-1, 4)
    assert (steps[:a, 0] == 88).all() and (steps[a:b, 0] == soprano.pitch.midi - LOWEST).all()
    sounding = pieces[0][pieces[0] < 88].astype(int) + LOWEST
    assert sounding.min() >= 36 and sounding.max() <= 84
    # A movement in 3/2: its 28 bars as bars of 3/4.
    three = _voices(["palestrina/Benedictus_08_b.krn"], "", False, False, halved=True)
    assert corpus.parse("palestrina/Benedictus_08_b.krn").highestTime == 28 * 6
    assert [v.shape for v in three] == [(28, 6, 4)]
    # Trained on through the command, and kept to it on --resume.
    run = tmp_path / "gan"
    args = ["--model", "chord-gan", "-o", str(run), "--max-pieces", "3", "--threads", "1"]
    small = ["--steps", "16", "--noise-dim", "8", "--batch-size", "8", "--eval-every", "2"]
    assert gen_train.main([*args, *small, "--corpus", "four-part", "--max-steps", "2"]) == 0
    ckpt = load_checkpoint(run / "latest.pt")
    assert ckpt.info["data"]["corpus"] == "four-part" and ckpt.info["pieces"] == 5
    assert gen_train.main([*args, "--resume", "--corpus", "chorales", "--max-steps", "3"]) == 2
    assert gen_train.main([*args, "--resume", "--max-steps", "3"]) == 0


def test_each_training_step_draws_one_metre_in_proportion_to_the_bars(tmp_path: Path) -> None:
    from generate.midi.train import ChordGANTask

    rng = np.random.default_rng(0)
    four = rng.integers(40, 60, (30, 8, 4)).astype(np.uint8)  # 30 bars of 4/4
    three = rng.integers(40, 60, (10, 6, 4)).astype(np.uint8)  # 10 bars of 3/4
    net = ChordGANConfig(arch="voices", steps=16, noise_dim=8, generator_channels=16, metres=(8, 6))
    cfg = MidiTrainConfig(batch_size=4, critic_steps=2)
    task = ChordGANTask(tmp_path, [four, three], net, cfg)
    assert task.metre_weights.tolist() == [0.75, 0.25]
    assert [n for _, n in task.validation_metres] == [48, 16]
    assert {len(r) for r in task.reference} == {16, 12}  # without the silence after 3/4
    drawn = []
    for _ in range(200):
        metre, reals = task.next_batch()
        assert len(reals) == 2 and all(r.shape == (4, 16, 88) for r in reals)
        if metre == 6:  # two bars of 3/4, then silence
            assert all(float(r[:, 12:].sum()) == 0 and bool(r[:, :12].any()) for r in reals)
        else:
            assert all(bool(r[:, 12:].any()) for r in reals)
        drawn.append(metre)
    assert 0.15 < drawn.count(6) / len(drawn) < 0.35
    figures = task.train_step(task.next_batch())
    assert np.isfinite(list(figures.values())).all()
    # Data prepared before there were metres, (T, 4) in 4/4, trains as its whole bars.
    old = four.reshape(-1, 4)[:-3]  # 237 steps: 29 whole bars
    legacy = ChordGANTask(tmp_path, [old], ChordGANConfig(arch="voices", steps=16), cfg)
    assert legacy.metre_weights.tolist() == [1.0]
    metre, reals = legacy.next_batch()
    assert metre == 8 and reals[0].shape == (4, 16, 88)
