"""export to ONNX, torch.export and the tutorial's state dict, and the tutorial's .pth taken back in."""

import csv
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from torchvision.datasets import MNIST

from benchmarks.loops import TutorialMLP  # the tutorial's model class, as it wrote it
from mnist_lit.cli import main, run
from mnist_lit.errors import UserError
from mnist_lit.export import export
from mnist_lit.system import DigitClassifier
from tests.conftest import CONFIG, QUIET, TINY_TEST, best_checkpoint


def mnist_test_images(data_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The uint8 test images (N, 28, 28) and the float pixels in [0, 1] (N, 1, 28, 28) exports take."""
    images = MNIST(data_dir, train=False).data
    return images, images.unsqueeze(1).float() / 255


def torch_logits(ckpt: Path, images: torch.Tensor) -> torch.Tensor:
    model = DigitClassifier.load_from_checkpoint(ckpt, map_location="cpu").eval()
    with torch.no_grad():
        return model(images)


def onnx_logits(path: Path, pixels: torch.Tensor) -> torch.Tensor:
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"pixels": pixels.numpy()})
    return torch.from_numpy(logits)


@pytest.fixture(scope="module")
def ckpt(trained: Path) -> Path:
    return best_checkpoint(trained / "checkpoints" / "default" / "version_0")


@pytest.fixture(scope="module")
def normalized_ckpt(ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained checkpoint relabelled as trained on standardised pixels, as best.yaml trains."""
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["hyper_parameters"]["normalize"] = True
    path = tmp_path_factory.mktemp("normalized") / "normalized.ckpt"
    torch.save(checkpoint, path)
    return path


@pytest.mark.parametrize("which", ["ckpt", "normalized_ckpt"])
def test_onnx_logits_match_torch_on_every_test_image(
    which: str, request: pytest.FixtureRequest, tiny_mnist: Path, tmp_path: Path
) -> None:
    checkpoint = request.getfixturevalue(which)
    export(checkpoint, tmp_path / "model.onnx")
    images, pixels = mnist_test_images(tiny_mnist)
    expected = torch_logits(checkpoint, images)
    logits = onnx_logits(tmp_path / "model.onnx", pixels)
    assert logits.shape == (TINY_TEST, 10)
    assert torch.allclose(logits, expected, atol=1e-4, rtol=0)
    assert torch.equal(logits.argmax(dim=1), expected.argmax(dim=1))


def test_the_onnx_graph_takes_any_batch_size(ckpt: Path, tiny_mnist: Path, tmp_path: Path) -> None:
    export(ckpt, tmp_path / "model.onnx")
    _, pixels = mnist_test_images(tiny_mnist)
    session = onnxruntime.InferenceSession(tmp_path / "model.onnx", providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 1, 28, 28]
    for size in (1, 7, 100):
        (logits,) = session.run(["logits"], {"pixels": pixels[:size].numpy()})
        assert logits.shape == (size, 10)
        assert logits.dtype == np.float32


def test_the_torch_export_program_matches_torch(normalized_ckpt: Path, tiny_mnist: Path, tmp_path: Path) -> None:
    export(normalized_ckpt, tmp_path / "model.pt2")
    images, pixels = mnist_test_images(tiny_mnist)
    program = torch.export.load(tmp_path / "model.pt2").module()
    assert torch.allclose(program(pixels[:9]), torch_logits(normalized_ckpt, images[:9]), atol=1e-5, rtol=0)


def test_the_tutorials_model_loads_the_pth_strictly_and_agrees(ckpt: Path, tiny_mnist: Path, tmp_path: Path) -> None:
    export(ckpt, tmp_path / "mnist_mlp_model.pth")
    state_dict = torch.load(tmp_path / "mnist_mlp_model.pth", weights_only=True)
    assert list(state_dict) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]
    tutorial_model = TutorialMLP()
    tutorial_model.load_state_dict(state_dict, strict=True)
    images, pixels = mnist_test_images(tiny_mnist)
    with torch.no_grad():
        assert torch.allclose(tutorial_model(pixels), torch_logits(ckpt, images), atol=1e-6, rtol=0)


@pytest.mark.parametrize("output", ["model.txt", "model", "folder.onnx"])
def test_export_to_an_unknown_format_or_a_folder_is_refused(ckpt: Path, tmp_path: Path, output: str) -> None:
    (tmp_path / "folder.onnx").mkdir()
    with pytest.raises(UserError, match=r"must be a file ending in \.onnx, \.pt2, \.pth"):
        export(ckpt, tmp_path / output)


def test_a_failed_export_leaves_an_earlier_file_whole(tmp_path: Path) -> None:
    earlier = tmp_path / "model.onnx"
    earlier.write_bytes(b"an earlier export")
    with pytest.raises(UserError, match="does not exist"):
        export(tmp_path / "missing.ckpt", earlier, overwrite=True)
    assert earlier.read_bytes() == b"an earlier export"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx"]


def test_export_over_an_existing_file_is_refused_unless_told_to_overwrite(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = tmp_path / "model.pth"
    earlier.write_bytes(b"an earlier export")
    with pytest.raises(SystemExit) as exit_info:
        main(["export", f"--ckpt_path={ckpt}", f"--output={earlier}"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"error: --output '{earlier}' exists already: pass another file name, or --overwrite true to replace it\n"
    )
    assert earlier.read_bytes() == b"an earlier export"
    main(["export", f"--ckpt_path={ckpt}", f"--output={earlier}", "--overwrite=true"])
    assert set(torch.load(earlier, weights_only=True)) == {f"fc{i}.{p}" for i in (1, 2, 3) for p in ("weight", "bias")}


def test_export_from_the_command_line_names_what_it_wrote(
    ckpt: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    main(["export", f"--ckpt_path={ckpt}", f"--output={tmp_path / 'model.pth'}"])
    assert f"Wrote {tmp_path / 'model.pth'}" in caplog.text


def test_export_without_an_output_ends_in_one_line_and_status_2(ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", f"--ckpt_path={ckpt}"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: the following arguments are required: output")


def save_the_tutorials_way(path: Path, always: int) -> None:
    """A state dict saved as the tutorial saves one, from a model that reads every image as ``always``."""
    model = TutorialMLP()
    with torch.no_grad():
        for layer in (model.fc1, model.fc2, model.fc3):
            layer.weight.zero_()
            layer.bias.zero_()
        model.fc3.bias[always] = 1.0
    torch.save(model.state_dict(), path)


def test_test_takes_the_tutorials_pth(tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_the_tutorials_way(tmp_path / "mnist_mlp_model.pth", always=3)
    monkeypatch.chdir(tmp_path)
    cli = run(["test", "--config", CONFIG, f"--data.data_dir={tiny_mnist}", "--ckpt_path=mnist_mlp_model.pth", *QUIET])
    assert float(cli.trainer.callback_metrics["test/acc"]) == pytest.approx(0.1)  # 10 of the 100 are 3s


def test_predict_takes_the_tutorials_pth(tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_the_tutorials_way(tmp_path / "mnist_mlp_model.pth", always=7)
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(3):
        MNIST(tiny_mnist, train=False)[index][0].save(photos / f"{index}.png")
    monkeypatch.chdir(tmp_path)
    run([
        "predict", "--config", CONFIG, "--ckpt_path=mnist_mlp_model.pth", f"--data.predict_dir={photos}",
        "--predictions.output=predictions.csv", *QUIET,
    ])  # fmt: skip
    with (tmp_path / "predictions.csv").open(newline="") as file:
        assert [row["digit"] for row in csv.DictReader(file)] == ["7", "7", "7"]


@pytest.mark.parametrize(
    ("state_dict", "subcommand", "message"),
    [
        (
            {"layer1.weight": torch.zeros(128, 784)},
            "test",
            "holds a different network; this project's has the layers fc1",
        ),
        ({"fc1.weight": torch.zeros(300, 784)}, "test", "holds a different network"),
        (None, "fit", "holds the tutorial's weights only, not the training state"),
    ],
)
def test_a_pth_it_cannot_use_ends_in_one_line_naming_the_file(
    tiny_mnist: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    state_dict: dict[str, torch.Tensor] | None,
    subcommand: str,
    message: str,
) -> None:
    if state_dict is None:
        save_the_tutorials_way(tmp_path / "weights.pth", always=0)
    else:
        torch.save(state_dict, tmp_path / "weights.pth")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([subcommand, "--config", CONFIG, f"--data.data_dir={tiny_mnist}", "--ckpt_path=weights.pth", *QUIET])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: checkpoint 'weights.pth' {message}")
    assert error.count("\n") == 1
