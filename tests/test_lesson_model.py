"""The solved lesson's model and training loop, taken from the reference notebook itself."""

from __future__ import annotations

import pytest
import torch

import fakenews_lesson as lesson
from autograder.metrics import separability_score


@pytest.mark.parametrize(("batch", "length", "embedding_dim", "hidden_dim"), [(1, 30, 2, 2), (7, 5, 3, 4), (16, 1, 8, 3)])
@pytest.mark.parametrize("model_name", ["ClassifierWithRNN", "ClassifierWithMean"])
def test_shapes(reference, model_name, batch, length, embedding_dim, hidden_dim):
    """Does summarize give (batch, hidden_dim) and forward (batch, 1), for batch 1 too?"""
    torch.manual_seed(0)
    model = reference[model_name](50, hidden_dim, embedding_dim, 0)
    x = torch.randn(batch, length, embedding_dim)
    assert model.summarize(x).shape == (batch, hidden_dim)
    logits = model(torch.randint(0, 50, (batch, length)))
    assert logits.shape == (batch, 1) and logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_summaries_are_the_last_state_and_the_mean(reference):
    torch.manual_seed(0)
    rnn = reference["ClassifierWithRNN"](50, 3, 4, 0)
    mean = reference["ClassifierWithMean"](50, 3, 4, 0)
    mean.load_state_dict(rnn.state_dict())
    x = torch.randn(5, 9, 4)
    outputs, h_n = rnn.rnn(x)
    torch.testing.assert_close(rnn.summarize(x), h_n[0])
    torch.testing.assert_close(mean.summarize(x), outputs.mean(1))


def test_padding_embedding_is_zero(reference):
    model = reference["ClassifierWithRNN"](50, 2, 2, 7)
    assert model.embedding.padding_idx == 7 and not model.embedding.weight[7].any()


@pytest.fixture(scope="module")
def fixture_data():
    sp = lesson.load_tokenizer()
    frame = lesson.load_fakenews(verbose=False)
    return sp, lesson.encode_titles(sp, frame["title"]), torch.tensor(frame["real"].to_numpy(), dtype=torch.float32)


def test_train_lowers_the_loss_and_separates(reference, fixture_data, capsys):
    """On the fixture, does train() return a falling loss per epoch, leave the model on the device, and separate?"""
    sp, tokens, y = fixture_data
    lesson.seed_everything(0)
    model = reference["ClassifierWithRNN"](sp.get_piece_size(), 2, 2, lesson.pad_id(sp))
    before = separability_score(lesson.document_embeddings(model, tokens), y.numpy())
    losses = reference["train"](model, tokens, y, epochs=500, lr=1e-2, device="cpu")
    assert len(losses) == 500 and all(isinstance(v, float) for v in losses)
    assert losses[-1] < losses[0] - 0.2
    assert all(p.device.type == "cpu" for p in model.parameters())
    after = separability_score(lesson.document_embeddings(model, tokens), y.numpy())
    assert after > 0.7 and after > before + 0.15
    captured = capsys.readouterr()
    assert "training: 100%" in captured.out and captured.err == ""


def test_default_device_is_cpu_here():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert lesson.default_device().type in {expected, "mps"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_train_on_cuda_moves_model_and_data(reference, fixture_data):
    """On a GPU, does train(device='cuda') leave every parameter on the GPU and still lower the loss?"""
    sp, tokens, y = fixture_data
    lesson.seed_everything(0)
    model = reference["ClassifierWithRNN"](sp.get_piece_size(), 2, 2, lesson.pad_id(sp))
    losses = reference["train"](model, tokens, y, epochs=300, lr=1e-2, device="cuda")
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    assert losses[-1] < losses[0] - 0.1
    assert lesson.document_embeddings(model, tokens).shape == (len(y), 2)


def test_learning_curve_reads_tensor_losses_and_names_the_mistake(tmp_path, capsys):
    """A train() that returns `loss` (tensors that require grad) still gets its plot, with one line saying what to
    change; something that is no list of losses gets one clear error, not a NumPy traceback."""
    loss = torch.tensor(0.7, requires_grad=True) * 1.0
    lesson.plot_learning_curve([loss, loss * 0.5], path=tmp_path / "curve.png")
    assert (tmp_path / "curve.png").is_file()
    assert "append loss.item(), not loss" in capsys.readouterr().out
    with pytest.raises(TypeError, match="needs a list of losses"):
        lesson.plot_learning_curve(0.7, path=tmp_path / "other.png")
