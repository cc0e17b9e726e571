import torch

from benchmarks.loops import TutorialMLP  # the tutorial's model, as it wrote it
from mnist_lit.net import MLP


def test_logits_have_one_row_per_image_and_ten_columns() -> None:
    assert MLP()(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


def test_parameter_count_is_109386() -> None:
    assert sum(p.numel() for p in MLP().parameters()) == 109_386


def test_state_dict_keys_are_the_tutorials() -> None:
    assert list(MLP().state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]


def test_tutorial_weights_load_strictly_and_give_the_same_logits() -> None:
    tutorial = TutorialMLP()
    ours = MLP()
    ours.load_state_dict(tutorial.state_dict(), strict=True)
    images = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(ours(images), tutorial(images))


def test_dropout_is_off_by_default_and_on_when_asked() -> None:
    images = torch.rand(4, 1, 28, 28)
    plain = MLP().train()
    assert torch.equal(plain(images), plain(images))
    dropped = MLP(dropout=0.5).train()
    assert not torch.equal(dropped(images), dropped(images))
