"""Models: shapes, the flow's invertibility and log-determinant, overfitting one batch."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from models.decoders import FlowStep, reverse_valid
from models.lipreading import CHARACTERS, LipReadingHead, word_vocabulary
from models.model import LipToSpeech, ModelParams, Shapes, masked_mse

TINY = ModelParams(width=0.125, gru_hidden=16, mlp_hidden=64, conv_channels=16, flow_hidden=32, dropout=0.0,
                   bidirectional=False, speaker_embedding="none", ctc_weight=0.0)


def _shapes(frames: int = 8, n_speakers: int = 2) -> Shapes:
    return Shapes(in_channels=3, n_mels=8, k=2, frames=frames, n_speakers=n_speakers)


def _batch(batch: int = 2, frames: int = 8, size: int = 32, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    video = torch.randn(batch, 3, frames, size, size, generator=generator)
    mel = torch.randn(batch, 8, 2 * frames, generator=generator)
    lengths = torch.full((batch,), frames)
    return video, lengths, torch.arange(batch) % 2, mel, lengths * 2


@pytest.mark.parametrize("decoder", ["mlp", "conv", "flow"])
@pytest.mark.parametrize("batch,frames", [(1, 8), (3, 8), (2, 5)])
def test_output_shapes(decoder: str, batch: int, frames: int):
    if decoder == "mlp" and frames != 8:
        frames = 8  # the MLP is built for a fixed number of frames
    model = LipToSpeech(decoder, TINY, _shapes(frames=8 if decoder == "mlp" else frames)).eval()
    video, lengths, speakers, mel, mel_lengths = _batch(batch, frames)
    outputs = model(video, lengths, speakers, mel, mel_lengths)
    key = "z" if decoder == "flow" else "mel"
    assert outputs[key].shape == (batch, 8, 2 * frames)
    assert model.infer(video, lengths, speakers).shape == (batch, 8, 2 * frames)
    assert torch.isfinite(model.loss(outputs, mel, mel_lengths))


def test_variable_lengths_in_one_batch():
    model = LipToSpeech("conv", TINY, _shapes()).eval()
    video, _, speakers, mel, _ = _batch(2, 8)
    lengths = torch.tensor([8, 5])
    outputs = model(video, lengths, speakers)
    assert outputs["mel"].shape == (2, 8, 16)
    # Frames past a sequence's length do not count in the loss.
    changed = mel.clone()
    changed[1, :, 10:] += 100
    unchanged = model.loss(outputs, changed, lengths * 2).item()
    assert model.loss(outputs, mel, lengths * 2).item() == pytest.approx(unchanged)


def test_mlp_refuses_other_lengths():
    model = LipToSpeech("mlp", TINY, _shapes(frames=8)).eval()
    video, lengths, speakers, _, _ = _batch(1, 6)
    with pytest.raises(ValueError, match="built for 8 frames"):
        model(video, lengths, speakers)


def _trained_flow_step() -> FlowStep:
    torch.manual_seed(0)
    step = FlowStep(n_mels=2, context=3, hidden=8)
    for parameter in step.parameters():  # leave the identity start: a non-trivial map
        torch.nn.init.normal_(parameter, std=0.3)
    return step


@pytest.mark.parametrize("backward", [False, True])
def test_flow_inverts(backward: bool):
    step = _trained_flow_step()
    step.backward = backward
    x, context = torch.randn(2, 2, 7), torch.randn(2, 3, 7)
    lengths = torch.tensor([7, 5])
    z, _ = step(x, context, lengths)
    restored = step.inverse(z, context, lengths)
    torch.testing.assert_close(restored[0], x[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(restored[1, :, :5], x[1, :, :5], atol=1e-4, rtol=1e-4)


def test_whole_flow_decoder_inverts():
    model = LipToSpeech("flow", ModelParams(**{**TINY.__dict__, "flow_steps": 4}), _shapes()).eval()
    for parameter in model.decoder.parameters():
        torch.nn.init.normal_(parameter, std=0.2)
    video, lengths, speakers, mel, mel_lengths = _batch(2, 8)
    features = model.encode(video, lengths, speakers)
    z, _ = model.decoder(mel, features, mel_lengths)
    context = model.decoder.context(features)
    for step in reversed(model.decoder.steps):
        z = step.inverse(z, context, mel_lengths)
    torch.testing.assert_close(z, mel, atol=1e-3, rtol=1e-3)


def test_flow_decoder_infer_inverts_the_forward_pass():
    """infer() itself (its sampling and its inverse steps) gives mels that forward() maps back to
    exactly the noise infer drew, for every sequence of a padded batch."""
    model = LipToSpeech("flow", ModelParams(**{**TINY.__dict__, "flow_steps": 3}), _shapes()).eval()
    for parameter in model.decoder.parameters():
        torch.nn.init.normal_(parameter, std=0.2)  # leave the identity start: a non-trivial map
    video, _, speakers, _, _ = _batch(2, 8)
    lengths = torch.tensor([8, 6])
    features = model.encode(video, lengths, speakers)
    mel = model.decoder.infer(features, lengths * 2, sigma=0.7, generator=torch.Generator().manual_seed(5))
    noise = torch.randn(mel.shape, generator=torch.Generator().manual_seed(5)) * 0.7
    z, _ = model.decoder(mel, features, lengths * 2)
    torch.testing.assert_close(z[0], noise[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(z[1, :, :12], noise[1, :, :12], atol=1e-4, rtol=1e-4)
    # And through the whole model's infer (encoder + decoder), the same draw gives the same mel.
    again = model.infer(video, lengths, speakers, sigma=0.7, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(again[0], mel[0])


def test_flow_log_determinant_matches_the_jacobian():
    step = _trained_flow_step().double()
    context = torch.randn(1, 3, 3, dtype=torch.float64)
    lengths = torch.tensor([3])
    x = torch.randn(1, 2, 3, dtype=torch.float64)

    def flow(flat: torch.Tensor) -> torch.Tensor:
        return step(flat.view(1, 2, 3), context, lengths)[0].reshape(-1)

    jacobian = torch.autograd.functional.jacobian(flow, x.reshape(-1))
    _, log_s = step(x, context, lengths)
    assert torch.linalg.slogdet(jacobian).logabsdet.item() == pytest.approx(log_s.sum().item(), abs=1e-8)


def test_reverse_valid_keeps_padding_in_place():
    x = torch.arange(10.0).view(2, 1, 5)
    out = reverse_valid(x, torch.tensor([5, 3]))
    assert out[0, 0].tolist() == [4, 3, 2, 1, 0] and out[1, 0].tolist() == [7, 6, 5, 8, 9]


@pytest.mark.parametrize("decoder", ["mlp", "conv", "flow"])
def test_each_decoder_overfits_one_batch(decoder: str):
    torch.manual_seed(0)
    model = LipToSpeech(decoder, TINY, _shapes())
    video, lengths, speakers, mel, mel_lengths = _batch(2, 8, size=16, seed=1)
    mask = torch.ones(2, 1, 16)

    def error() -> float:
        # Batch statistics, as in training: BatchNorm's running variance of a batch of two is
        # its own thing, and dropout is off in TINY.
        model.train()
        return masked_mse(model.infer(video, lengths, speakers, sigma=0.0), mel, mask).item()

    before = error()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(600 if decoder == "flow" else 300):  # the flow's mean path converges more slowly
        optimizer.zero_grad()
        loss = model.loss(model(video, lengths, speakers, mel, mel_lengths), mel, mel_lengths)
        loss.backward()
        optimizer.step()
    # Prediction error (for the flow: its mean path, sigma = 0) falls at least tenfold.
    assert error() < before / 10, (before, error())


def test_flow_with_postnet_is_refused():
    with pytest.raises(ValueError, match="postnet does not apply"):
        LipToSpeech("flow", ModelParams(postnet=True), _shapes())


def test_ctc_tokens_encode_and_greedy_decoding_collapses_repeats():
    characters = LipReadingHead(4, CHARACTERS, "characters")
    classes = characters.encode("Bin  blue at F two now!")
    assert [CHARACTERS[c - 1] for c in classes] == list("bin blue at f two now")
    # Repeats collapse, blanks separate real repeats, blanks vanish.
    assert characters.decode([0, 2, 2, 0, 2, 3, 3, 0, 1, 0]) == "aab"
    words = LipReadingHead(4, word_vocabulary(["bin blue at f two now", "set red"]), "words")
    assert words.vocabulary == ("at", "bin", "blue", "f", "now", "red", "set", "two")
    assert words.encode("Set blue at X two") == [7, 3, 1, 8]  # "x" is not in the vocabulary
    assert words.decode([0, 7, 7, 0, 3, 3, 1, 0, 8, 8]) == "set blue at two"


@pytest.mark.parametrize("units,hidden,detach", [("characters", 0, False), ("words", 16, True)])
def test_the_lip_reading_head_learns_a_transcript_and_adds_nothing_without_one(units, hidden, detach):
    torch.manual_seed(0)
    params = ModelParams(**{**TINY.__dict__, "ctc_weight": 1.0, "ctc_units": units, "ctc_hidden": hidden,
                            "ctc_detach": detach})
    texts = ["bin blue", "set red"]
    vocabulary = word_vocabulary(texts) if units == "words" else CHARACTERS
    model = LipToSpeech("conv", params, _shapes(frames=16), vocabulary)
    video, lengths, speakers, mel, mel_lengths = _batch(2, 16, size=16, seed=2)
    outputs = model(video, lengths, speakers, mel, mel_lengths)
    assert outputs["ctc_log_probs"].shape == (2, 16, len(vocabulary) + 1)
    assert model.loss(outputs, mel, mel_lengths, ["", ""], lengths) == model.mel_loss(outputs, mel, mel_lengths)
    assert model.loss(outputs, mel, mel_lengths, texts, lengths) > model.mel_loss(outputs, mel, mel_lengths)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        optimizer.zero_grad()
        model.loss(model(video, lengths, speakers, mel, mel_lengths), mel, mel_lengths, texts, lengths).backward()
        optimizer.step()
    model.train()  # batch statistics, as in training
    assert model.lipread(video, lengths) == texts
    loaded = LipToSpeech.from_config(model.config())
    loaded.load_state_dict(model.state_dict())
    assert loaded.ctc.vocabulary == vocabulary and loaded.train().lipread(video, lengths) == texts


def _trained_speech_weights(params: ModelParams, steps: int = 5) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = LipToSpeech("conv", params, _shapes(frames=12), word_vocabulary(["bin blue", "set red"])).train()
    video, lengths, speakers, mel, mel_lengths = _batch(2, 12, size=16, seed=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        outputs = model(video, lengths, speakers, mel, mel_lengths)
        model.loss(outputs, mel, mel_lengths, ["bin blue", "set red"], lengths).backward()
        optimizer.step()
    return {name: t for name, t in model.state_dict().items() if not name.startswith("ctc.")}


def test_a_detached_lip_reading_head_leaves_the_speech_model_exactly_as_without_it():
    speech_only = dict(TINY.__dict__, dropout=0.25, ctc_weight=0.0)  # dropout: the random stream matters
    alone = _trained_speech_weights(ModelParams(**speech_only))
    probed = _trained_speech_weights(ModelParams(**{**speech_only, "ctc_weight": 1.0, "ctc_hidden": 8,
                                                    "ctc_detach": True}))
    joint = _trained_speech_weights(ModelParams(**{**speech_only, "ctc_weight": 1.0, "ctc_hidden": 8,
                                                   "ctc_detach": False}))
    assert alone.keys() == probed.keys()
    assert all(torch.equal(alone[name], probed[name]) for name in alone)
    # The same comparison sees the multi-task head's pull on the encoder.
    assert not all(torch.equal(alone[name], joint[name]) for name in alone)


@pytest.mark.parametrize("decoder", ["conv", "flow"])
def test_recurrent_layers_run_in_float32_under_bf16_autocast(decoder: str):
    """The encoder's GRU, the lip reader's GRU and the flow's LSTMs see float32 inputs with
    autocast off, while the convolutions around them run in bf16 (CPU autocast here; CUDA's
    follows the same code), and the whole step still trains."""
    params = ModelParams(width=0.125, gru_hidden=16, conv_channels=16, flow_hidden=16, ctc_weight=1.0, ctc_hidden=8)
    model = LipToSpeech(decoder, params, _shapes(), ("bin", "blue"))
    seen: dict[str, tuple[torch.dtype, bool]] = {}

    def record(name: str):
        def hook(module, inputs) -> None:
            seen.setdefault(name, (_data(inputs[0]).dtype, torch.is_autocast_enabled("cpu")))
        return hook

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.RNNBase):
            module.register_forward_pre_hook(record(name))
    video, lengths, speakers, mel, mel_lengths = _batch(frames=8)
    lengths = torch.tensor([8, 6])  # one shorter sequence: the packed path
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = model(video, lengths, speakers, mel, lengths * 2)
        loss = model.loss(outputs, mel, lengths * 2, ["bin blue", ""], lengths)
    loss.backward()
    recurrent = {"encoder.gru", "ctc.gru"} | ({"decoder.steps.0.lstm", "decoder.steps.1.lstm"} if decoder == "flow"
                                              else set())
    assert set(seen) == recurrent
    assert all(state == (torch.float32, False) for state in seen.values()), seen
    assert outputs["ctc_log_probs"].dtype == torch.float32 and torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.encoder.parameters())


def _data(inputs) -> torch.Tensor:
    """A recurrent layer's input tensor, packed or not."""
    return inputs.data if isinstance(inputs, torch.nn.utils.rnn.PackedSequence) else inputs


def test_the_mel_head_regresses_the_mel_from_the_decoder_input_and_only_in_training():
    """With model.mel_head_weight the loss adds that weight times the head's masked MSE against
    the mel (padding excluded), the head's gradient reaches the encoder, and inference is the
    decoder's alone."""
    params = ModelParams(**{**TINY.__dict__, "mel_head_weight": 0.5})
    torch.manual_seed(0)
    model = LipToSpeech("flow", params, _shapes()).eval()
    video, _, speakers, mel, _ = _batch(2, 8)
    lengths = torch.tensor([8, 5])
    outputs = model(video, lengths, speakers, mel, lengths * 2)
    assert outputs["mel_head"].shape == mel.shape
    mask = (torch.arange(16)[None] < (lengths * 2)[:, None])[:, None, :]
    expected = model.mel_loss(outputs, mel, lengths * 2) + 0.5 * masked_mse(outputs["mel_head"], mel, mask)
    torch.testing.assert_close(model.loss(outputs, mel, lengths * 2), expected)
    changed = mel.clone()
    changed[1, :, 10:] += 100  # padding of the second utterance
    torch.testing.assert_close(model.loss(model(video, lengths, speakers, changed, lengths * 2), changed, lengths * 2),
                               expected)
    head_only = 0.5 * masked_mse(outputs["mel_head"], mel, mask)
    head_only.backward()
    assert model.encoder.gru.weight_ih_l0.grad.abs().sum() > 0
    without = LipToSpeech("flow", TINY, _shapes()).eval()
    without.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("mel_head.")})
    generator = torch.Generator().manual_seed(3)
    torch.testing.assert_close(model.infer(video, lengths, speakers, generator=generator),
                               without.infer(video, lengths, speakers, generator=torch.Generator().manual_seed(3)))


def test_flow_dropout_hides_the_past_in_training_and_the_flow_still_inverts():
    """model.flow_dropout drops previous frames from what each coupling sees while training
    (two passes differ), is off in eval (the pass is deterministic), and the eval map inverts."""
    torch.manual_seed(0)
    step = FlowStep(n_mels=2, context=3, hidden=8, dropout=0.5)
    for parameter in step.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    x, context, lengths = torch.randn(2, 2, 7), torch.randn(2, 3, 7), torch.tensor([7, 7])
    step.train()
    assert not torch.equal(step(x, context, lengths)[0], step(x, context, lengths)[0])
    step.eval()
    z, _ = step(x, context, lengths)
    assert torch.equal(z, step(x, context, lengths)[0])
    torch.testing.assert_close(step.inverse(z, context, lengths), x, atol=1e-4, rtol=1e-4)


def test_voice_conditioning_needs_a_recording_and_none_gives_no_voice_vector():
    voiced = LipToSpeech("conv", dataclasses.replace(TINY, speaker_embedding="voice"), _shapes()).eval()
    assert voiced.speaker is None and voiced.voice is not None
    video, lengths, speakers, mel, mel_lengths = _batch(2, 8)
    with pytest.raises(ValueError, match="conditions on an enrolment recording"):
        voiced(video, lengths, speakers)
    recordings = torch.randn(2, 8, 30, generator=torch.Generator().manual_seed(1))
    assert voiced.infer(video, lengths, speakers, voice=recordings, voice_lengths=torch.tensor([30, 20])).shape == \
        (2, 8, 16)
    vectors = voiced.voice(recordings, torch.tensor([30, 0]))
    assert vectors[0].abs().sum() > 0 and torch.equal(vectors[1], torch.zeros_like(vectors[1]))
    # Frames past a recording's length do not change its vector.
    longer = torch.cat([recordings, torch.randn(2, 8, 5)], dim=2)
    torch.testing.assert_close(voiced.voice(longer, torch.tensor([30, 20])), voiced.voice(recordings,
                                                                                         torch.tensor([30, 20])))


def test_configs_from_before_voice_conditioning_load_as_they_were():
    table = LipToSpeech("conv", dataclasses.replace(TINY, speaker_embedding="table"), _shapes())
    config = table.config()
    for old, now in ((True, "table"), (False, "none")):
        config["model"]["speaker_embedding"] = old
        assert LipToSpeech.from_config(config).params.speaker_embedding == now
