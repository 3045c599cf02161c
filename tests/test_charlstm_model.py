"""The folded char-LSTM is the reference network: the same outputs, states and gradients as
``nn.Embedding`` + ``nn.LSTM`` + ``nn.Linear`` on the same parameters, and the step-by-step
sampler the same as running the network on the whole prefix."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from generate.charlstm.model import CharLSTM, CharLSTMConfig, Stepper


def reference(model: CharLSTM, idx: torch.Tensor, state):
    """The network as the reference design writes it."""
    x, state = model.lstm(model.embed(idx), state)
    return model.head(model.drop(x)), state


@pytest.mark.parametrize("layers", [1, 3])
def test_the_folded_network_is_the_reference_one(layers: int) -> None:
    torch.manual_seed(0)
    model = CharLSTM(
        CharLSTMConfig(vocab_size=40, embed_dim=64, hidden_size=32, num_layers=layers, dropout=0.0)
    )
    idx = torch.randint(0, 40, (3, 17))
    target = torch.randint(0, 40, (3, 17))
    state = tuple(torch.randn(layers, 3, 32) for _ in range(2))
    assert model.folds(idx)

    logits, loss, (h, c) = model(idx, state, target)
    loss.backward()
    folded_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    ref_logits, (ref_h, ref_c) = reference(model, idx, state)
    F.cross_entropy(ref_logits.reshape(-1, 40), target.reshape(-1)).backward()

    assert (logits - ref_logits).abs().max() < 1e-5
    assert (h - ref_h).abs().max() < 1e-5 and (c - ref_c).abs().max() < 1e-5
    for name, p in model.named_parameters():
        assert (folded_grads[name] - p.grad).abs().max() < 1e-5, name
    assert folded_grads["embed.weight"].abs().sum() > 0  # the embedding does learn


def test_a_vocabulary_as_large_as_the_embedding_runs_unfolded() -> None:
    model = CharLSTM(CharLSTMConfig(vocab_size=64, embed_dim=64, hidden_size=8, num_layers=2))
    assert not model.folds(torch.zeros(1, 1, dtype=torch.long))


def test_dropout_between_layers_still_applies_when_folded() -> None:
    torch.manual_seed(0)
    model = CharLSTM(
        CharLSTMConfig(vocab_size=30, embed_dim=64, hidden_size=32, num_layers=3, dropout=0.5)
    )
    idx = torch.randint(0, 30, (2, 9))
    model.train()
    a, _, _ = model(idx)
    b, _, _ = model(idx)
    assert (a - b).abs().max() > 1e-3  # two draws of dropout
    model.eval()
    ref, _ = reference(model, idx, None)
    assert (model(idx)[0] - ref).abs().max() < 1e-5  # none in eval


def test_the_stepper_is_the_network_one_character_at_a_time() -> None:
    torch.manual_seed(1)
    model = CharLSTM(
        CharLSTMConfig(vocab_size=50, embed_dim=64, hidden_size=32, num_layers=3)
    ).eval()
    prefix = torch.randint(0, 50, (4, 6))
    more = torch.randint(0, 50, (4, 12))
    with torch.no_grad():
        _, _, state = model(prefix)
        step = Stepper(model, state)
        stepped = torch.stack([step(more[:, t]) for t in range(12)], dim=1)
        whole, _, _ = model(torch.cat([prefix, more], 1))
    assert (stepped - whole[:, 6:]).abs().max() < 1e-5


def test_char_transformer_learns_a_pattern_and_scores_every_character_once() -> None:
    import math

    import torch.nn.functional as F

    from generate.charlstm.transformer import CharTransformer, CharTransformerConfig

    torch.manual_seed(0)
    config = CharTransformerConfig(vocab_size=8, block_size=16, n_layer=1, n_head=2, n_embd=32)
    model = CharTransformer(config)
    pattern = torch.tensor([1, 2, 3, 4, 5, 6, 7] * 20)
    before = float(model.char_bits(pattern).mean())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        starts = torch.randint(0, len(pattern) - 17, (8,))
        x = torch.stack([pattern[s : s + 16] for s in starts])
        y = torch.stack([pattern[s + 1 : s + 17] for s in starts])
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    bits = model.char_bits(pattern)
    assert bits.shape == (len(pattern) - 1,)
    assert float(bits[16:].mean()) < 0.2 < before  # learned, and scored with context
    model.eval()
    # After the first window (0-15), each scores the next 8 with 8 or more before them:
    logits, _ = model(pattern[8:24].unsqueeze(0))  # the window that scores 16-23
    expected = F.cross_entropy(logits[0], pattern[9:25], reduction="none")[8:] / math.log(2)
    assert torch.allclose(bits[16:24], expected, atol=1e-5)
    with pytest.raises(ValueError, match="context holds 16"):
        model(pattern[:17].unsqueeze(0))
