from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.datasets import MNIST

from mnist_lit.data import MNISTDataModule
from mnist_lit.errors import UserError


def fitted(data_dir: Path, **kwargs: int) -> MNISTDataModule:
    datamodule = MNISTDataModule(data_dir=data_dir, **kwargs)
    datamodule.setup("fit")
    return datamodule


def test_validation_is_carved_from_the_training_images(tiny_mnist: Path) -> None:
    datamodule = fitted(tiny_mnist, val_size=100)
    assert (len(datamodule.train_set), len(datamodule.val_set)) == (300, 100)


def test_train_and_validation_share_no_image(tiny_mnist: Path) -> None:
    datamodule = fitted(tiny_mnist, val_size=100)
    train = {image.numpy().tobytes() for image in datamodule.train_set.images}
    val = {image.numpy().tobytes() for image in datamodule.val_set.images}
    assert len(train) == 300 and len(val) == 100  # every drawn image is unique
    assert train.isdisjoint(val)


def test_the_split_is_the_same_every_time(tiny_mnist: Path) -> None:
    first, second = fitted(tiny_mnist, val_size=100), fitted(tiny_mnist, val_size=100)
    assert torch.equal(first.val_set.images, second.val_set.images)
    assert torch.equal(first.val_set.targets, second.val_set.targets)


def test_the_test_set_is_mnists_own_test_file(tiny_mnist: Path) -> None:
    datamodule = MNISTDataModule(data_dir=tiny_mnist)
    datamodule.setup("test")
    assert len(datamodule.test_set) == 100


def test_mini_batches_are_uint8_images_and_int64_labels(tiny_mnist: Path) -> None:
    (images, targets), *_ = next(iter(fitted(tiny_mnist, val_size=100).train_dataloader()))
    assert images.shape == (64, 28, 28) and images.dtype == torch.uint8
    assert targets.shape == (64,) and targets.dtype == torch.int64


def test_each_training_step_gets_batches_per_step_mini_batches(tiny_mnist: Path) -> None:
    loader = fitted(tiny_mnist, val_size=100, batch_size=32, batches_per_step=4).train_dataloader()
    steps = [[len(targets) for _, targets in group] for group in loader]
    assert steps == [[32, 32, 32, 32], [32, 32, 32, 32], [32, 12]]  # 300 images; the last one short


def test_grouping_mini_batches_keeps_their_order(tiny_mnist: Path) -> None:
    def mini_batches(batches_per_step: int) -> list[torch.Tensor]:
        loader = fitted(tiny_mnist, val_size=100, batches_per_step=batches_per_step).train_dataloader()
        loader.sampler.set_epoch(1)
        return [targets for group in loader for _, targets in group]

    grouped, single = mini_batches(8), mini_batches(1)
    assert len(grouped) == len(single) == 5
    assert all(torch.equal(a, b) for a, b in zip(grouped, single, strict=True))


def test_evaluation_keeps_the_last_partial_batch(tiny_mnist: Path) -> None:
    sizes = [len(targets) for _, targets in fitted(tiny_mnist, val_size=100, batches_per_step=1).val_dataloader()]
    assert sizes == [64, 36]


def test_training_order_depends_on_the_epoch_alone(tiny_mnist: Path) -> None:
    def first_labels(epoch: int) -> list[int]:
        loader = fitted(tiny_mnist, val_size=100).train_dataloader()
        loader.sampler.set_epoch(epoch)
        (_, targets), *_ = next(iter(loader))
        return targets.tolist()

    assert first_labels(3) == first_labels(3)
    assert first_labels(3) != first_labels(4)


def test_a_validation_split_as_large_as_the_training_set_is_refused(tiny_mnist: Path) -> None:
    with pytest.raises(UserError, match="val_size=400"):
        fitted(tiny_mnist, val_size=400)


def test_missing_mnist_that_cannot_be_downloaded_names_the_folder_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MNIST, "mirrors", [])  # no download is attempted at all
    with pytest.raises(UserError) as caught:
        MNISTDataModule(data_dir=tmp_path).prepare_data()
    message = str(caught.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        assert name in message


def predicting(folder: Path, **kwargs: int) -> MNISTDataModule:
    datamodule = MNISTDataModule(predict_dir=folder, **{"num_workers": 0, **kwargs})
    datamodule.setup("predict")
    return datamodule


def test_predict_batches_hold_batch_size_times_batches_per_step_images(tmp_path: Path) -> None:
    for index in range(10):
        Image.new("L", (28, 28), color=index * 20 + 20).save(tmp_path / f"{index}.png")
    loader = predicting(tmp_path, batch_size=2, batches_per_step=2).predict_dataloader()
    assert [len(batch["path"]) for batch in loader] == [4, 4, 2]


def test_predict_batches_are_shared_evenly_among_the_reader_processes(tmp_path: Path) -> None:
    for index in range(12):
        Image.new("L", (28, 28), color=index * 20 + 20).save(tmp_path / f"{index:02d}.png")
    loader = predicting(tmp_path, batch_size=2, batches_per_step=2, num_workers=2).predict_dataloader()
    batches = [batch["path"] for batch in loader]
    assert [len(paths) for paths in batches] == [3, 3, 3, 3]  # not 4, 4, 4: one reader would read 8
    assert [path for paths in batches for path in paths] == [f"{index:02d}.png" for index in range(12)]


def test_a_predict_batch_moves_only_its_images_to_the_device(tmp_path: Path) -> None:
    Image.new("L", (28, 28), color=200).save(tmp_path / "a.png")
    datamodule = predicting(tmp_path)
    batch = next(iter(datamodule.predict_dataloader()))
    moved = datamodule.transfer_batch_to_device(batch, torch.device("meta"), dataloader_idx=0)
    assert moved["image"].device.type == "meta"
    assert moved["path"] is batch["path"] and moved["error"] is batch["error"]
