"""The photo-to-MNIST preprocessing, on digits the tests draw themselves."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_lit.preprocess import BlankImageError, load_digit


def draw_seven(
    size: tuple[int, int], box: tuple[int, int, int, int], ink: int, paper: int, mode: str = "L"
) -> Image.Image:
    """A '7' of two thick strokes filling ``box`` (left, top, right, bottom) on a plain page."""
    image = Image.new(mode, size, paper)
    left, top, right, bottom = box
    width = max(2, (bottom - top) // 8)
    draw = ImageDraw.Draw(image)
    draw.line([(left, top), (right, top)], fill=ink, width=width)
    draw.line([(right, top), (left + (right - left) // 3, bottom)], fill=ink, width=width)
    return image


def frame_of(image: Image.Image, tmp_path: Path, name: str = "digit.png") -> np.ndarray:
    path = tmp_path / name
    image.save(path)
    frame = load_digit(path)
    assert frame.shape == (28, 28)
    assert frame.dtype == np.uint8
    return frame.astype(np.float32)


def ink_box(frame: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero(frame.max(axis=1) > 0)
    cols = np.flatnonzero(frame.max(axis=0) > 0)
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(frame: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(frame.shape)
    return float((rows * frame).sum() / frame.sum()), float((cols * frame).sum() / frame.sum())


def assert_same_digit(frame: np.ndarray, reference: np.ndarray) -> None:
    """Same box within a pixel, same centre within 0.75 pixel, and the pixels strongly correlated."""
    assert ink_box(frame) == pytest.approx(ink_box(reference), abs=1)
    assert centre_of_mass(frame) == pytest.approx(centre_of_mass(reference), abs=0.75)
    assert np.corrcoef(frame.ravel(), reference.ravel())[0, 1] > 0.8


def test_dark_ink_on_white_paper_becomes_white_ink_on_black(tmp_path: Path) -> None:
    frame = frame_of(draw_seven((200, 200), (40, 30, 160, 170), ink=0, paper=255), tmp_path)
    assert frame[0, 0] == 0  # the corner is background: black
    assert frame.max() == 255  # the strokes are full white


def test_longer_side_of_the_digit_fills_the_20_pixel_box(tmp_path: Path) -> None:
    frame = frame_of(draw_seven((200, 200), (60, 20, 140, 180), ink=0, paper=255), tmp_path)
    height, width = ink_box(frame)
    assert height == pytest.approx(20, abs=1)
    assert width < height


def test_off_centre_digit_is_centred_by_mass(tmp_path: Path) -> None:
    frame = frame_of(draw_seven((400, 300), (250, 180, 360, 290), ink=20, paper=230), tmp_path)
    row, col = centre_of_mass(frame)
    assert row == pytest.approx(13.5, abs=1.0)
    assert col == pytest.approx(13.5, abs=1.0)


def test_white_on_black_and_black_on_white_give_the_same_frame(tmp_path: Path) -> None:
    dark_on_light = frame_of(draw_seven((200, 200), (40, 30, 160, 170), ink=0, paper=255), tmp_path, "a.png")
    light_on_dark = frame_of(draw_seven((200, 200), (40, 30, 160, 170), ink=255, paper=0), tmp_path, "b.png")
    assert_same_digit(light_on_dark, dark_on_light)


def test_ink_carried_by_transparency_is_read_from_the_alpha_channel(tmp_path: Path) -> None:
    reference = frame_of(draw_seven((200, 200), (40, 30, 160, 170), ink=0, paper=255), tmp_path, "a.png")
    # White strokes on a fully transparent canvas: invisible if alpha were dropped onto white.
    canvas = draw_seven((200, 200), (40, 30, 160, 170), ink=(255, 255, 255, 255), paper=(0, 0, 0, 0), mode="RGBA")
    transparent = frame_of(canvas, tmp_path, "b.png")
    assert_same_digit(transparent, reference)


def test_a_large_photo_gives_the_frame_a_small_one_does(tmp_path: Path) -> None:
    small = frame_of(draw_seven((200, 200), (40, 30, 160, 170), ink=0, paper=255), tmp_path, "a.png")
    large = frame_of(draw_seven((3000, 3000), (600, 450, 2400, 2550), ink=0, paper=255), tmp_path, "b.png")
    assert_same_digit(large, small)


def test_uneven_lighting_leaves_the_background_black(tmp_path: Path) -> None:
    gradient = np.tile(np.linspace(120, 250, 300, dtype=np.float32), (300, 1))
    page = Image.fromarray(gradient.astype(np.uint8))
    seven = draw_seven((300, 300), (80, 60, 220, 240), ink=0, paper=255)
    photo = Image.fromarray(np.minimum(np.asarray(page), np.asarray(seven) + 40).astype(np.uint8))
    frame = frame_of(photo, tmp_path)
    corners = [frame[:3, :3], frame[:3, -3:], frame[-3:, :3], frame[-3:, -3:]]
    assert all(corner.max() == 0 for corner in corners)
    assert ink_box(frame)[0] == pytest.approx(20, abs=1)


def test_thin_pen_strokes_are_thickened_to_mnist_width(tmp_path: Path) -> None:
    thin = Image.new("L", (1000, 1000), 255)
    ImageDraw.Draw(thin).line([(500, 100), (500, 900)], fill=0, width=4)  # a '1' of a fine pen
    frame = frame_of(thin, tmp_path)
    strokes_per_row = (frame[10:18] > 127).sum(axis=1)
    assert strokes_per_row.min() >= 2  # at least two full-white pixels across, as in MNIST


def rule_lines(image: Image.Image, spacing: int, tilt: int, shade: int) -> Image.Image:
    """Notebook paper: lines 2 pixels thick every ``spacing`` rows, falling ``tilt`` pixels
    across the page, drawn under the ink (only where the page is lighter than ``shade``)."""
    width, height = image.size
    lines = Image.new("L", image.size, 255)
    draw = ImageDraw.Draw(lines)
    for top in range(spacing // 2, height, spacing):
        draw.line([(0, top), (width - 1, top + tilt)], fill=shade, width=2)
    return Image.fromarray(np.minimum(np.asarray(image), np.asarray(lines)))


def test_ruled_lines_of_notebook_paper_are_erased(tmp_path: Path) -> None:
    plain = draw_seven((240, 240), (90, 30, 170, 210), ink=30, paper=235)
    lined = rule_lines(plain, spacing=24, tilt=6, shade=110)
    frame, reference = frame_of(lined, tmp_path, "lined.png"), frame_of(plain, tmp_path, "plain.png")
    assert np.abs(frame - reference).max() <= 40  # with the lines left in, 244


def test_a_thin_pen_stroke_across_the_page_is_not_taken_for_a_ruled_line(tmp_path: Path) -> None:
    # The bar of this '7' runs along 40% of the page: long, thin, but short of a ruled line.
    seven = Image.new("L", (400, 400), 255)
    draw = ImageDraw.Draw(seven)
    draw.line([(120, 100), (280, 100)], fill=0, width=3)
    draw.line([(280, 100), (180, 300)], fill=0, width=3)
    frame = frame_of(seven, tmp_path)
    top = int(np.flatnonzero(frame.max(axis=1) > 0)[0])
    assert (frame[top : top + 3] > 127).any(axis=0).sum() >= 12  # the bar spans most of the box


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "CMYK", "1", "LA"])
def test_every_common_mode_gives_a_centred_digit(tmp_path: Path, mode: str) -> None:
    image = draw_seven((120, 120), (20, 15, 100, 105), ink=0, paper=255).convert(mode)
    name = "digit.jpg" if mode == "CMYK" else "digit.png"
    frame = frame_of(image, tmp_path, name)
    assert ink_box(frame)[0] == pytest.approx(20, abs=1)
    assert centre_of_mass(frame)[0] == pytest.approx(13.5, abs=1.0)


def test_a_blank_page_is_refused_rather_than_read_as_a_digit(tmp_path: Path) -> None:
    Image.new("L", (100, 100), 255).save(tmp_path / "blank.png")
    with pytest.raises(BlankImageError, match="no ink found"):
        load_digit(tmp_path / "blank.png")


def test_an_mnist_frame_saved_as_png_comes_back_pixel_for_pixel(tmp_path: Path) -> None:
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[6:22, 12:16] = 255  # a '1' already framed the MNIST way
    digit[6:22, 11] = 90
    Image.fromarray(digit).save(tmp_path / "mnist.png")
    assert np.array_equal(load_digit(tmp_path / "mnist.png"), digit)


def test_an_mnist_frame_in_dark_ink_on_white_comes_back_inverted(tmp_path: Path) -> None:
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(255 - digit).save(tmp_path / "inverted.png")
    assert np.array_equal(load_digit(tmp_path / "inverted.png"), digit)
