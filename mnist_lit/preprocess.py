"""Turn a photo or drawing of one handwritten digit into an MNIST-style 28x28 uint8 image.

MNIST digits are white ink on black, scaled so the longer side of the digit fills a 20-pixel
box, then placed in a 28x28 frame with their centre of mass at the centre. Real photos are
dark ink on lighter, unevenly lit paper, at any size, with the digit anywhere. The steps below
bring one to the other; each works on a float "ink map" in which 1.0 is full ink and 0.0 none.
"""

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from mnist_lit.net import IMAGE_SIZE

DIGIT_BOX = 20
"""MNIST scales each digit so that its longer side fits a box of this many pixels."""

WORK_SIZE = 256
"""Photos are reduced to at most this many pixels a side before any other step: plenty for a
digit that ends up 20 pixels tall, and it keeps a 4000-pixel photo as cheap as a small one."""

STROKE_WIDTH = 2.8
"""Median width of an MNIST stroke, in pixels of the 28x28 frame (measured on its training set)."""

DETAIL = 4
"""Strokes are measured and thickened with the digit at this many times its final size."""

CROP_MASS = 0.01
"""Share of the ink mass left outside the crop at each edge, so a speck of dirt far from the
digit does not shrink it."""

BACKGROUND_GRID = 32
"""The paper's lighting is estimated on a grid this coarse, so single strokes vanish from it."""

BACKGROUND_WINDOW = 7
"""Median window, in grid cells, of that lighting estimate: wider than any stroke."""

RULE_THICKNESS = 3
"""Ink at most this many pixels tall (at WORK_SIZE) may be a ruled line of notebook paper; a
pen stroke, taller where it crosses a row, is never removed as one."""

RULE_SPAN = 0.5
"""A ruled line crosses at least this share of the image's width."""

RULE_SLOPES = np.linspace(-0.05, 0.05, 11)
"""Slopes, in rows per column, at which ruled lines are looked for: a page tilted up to about
3 degrees either way."""


UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning)
"""What :func:`load_digit` raises for a file that is not a readable image, or is too large to read."""


class BlankImageError(ValueError):
    """The image holds no ink at all: there is no digit to read."""


def load_digit(path: Path) -> np.ndarray:
    """Read the image file at ``path`` and return it as a uint8 array of shape (28, 28).

    Raises:
        One of UNREADABLE: the file is not a readable image, or is too large to read.
    """
    with refusing_large_images():
        return read_digit(path)


@contextlib.contextmanager
def refusing_large_images() -> Iterator[None]:
    """Pillow refuses images over twice MAX_IMAGE_PIXELS and only warns from MAX_IMAGE_PIXELS;
    inside this context it refuses those too, before decoding them."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def read_digit(path: str | Path) -> np.ndarray:
    """:func:`load_digit` without its own guard against large images, for a caller that reads
    many files inside one :func:`refusing_large_images`."""
    with Image.open(path) as image:
        image.draft("RGB", (WORK_SIZE, WORK_SIZE))  # JPEG decodes at reduced scale, much faster
        ImageOps.exif_transpose(image, in_place=True)
        # A 28x28 image is an MNIST-style frame already, which reframing would only blur:
        # its pixels are taken as they are, turned white ink on black.
        already_framed = image.size == (IMAGE_SIZE, IMAGE_SIZE)
        frame = _ink_pixels(image) if already_framed else to_mnist_frame(ink_map(image))
    if not frame.any():
        raise BlankImageError("no ink found: the image is blank or a single colour")
    return frame


def ink_map(image: Image.Image) -> np.ndarray:
    """Return a float32 array the size of ``image`` (at most WORK_SIZE a side), 1.0 where ink is."""
    image = image.copy()
    image.thumbnail((WORK_SIZE, WORK_SIZE), Image.Resampling.BOX)
    ink = _ink_pixels(image).astype(np.float32) / 255.0
    if _transparency_carries_ink(image):
        return _keep_strokes(ink)
    ink = _keep_strokes(np.clip(ink - _background(ink), 0.0, None))
    return _remove_ruled_lines(ink)


def _ink_pixels(image: Image.Image) -> np.ndarray:
    """The image as uint8 pixels in which ink is light and the background dark."""
    if image.mode in ("P", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
    if _transparency_carries_ink(image):  # strokes drawn on a transparent canvas, of any colour
        return np.array(image.getchannel("A"))
    gray = np.array(image if image.mode == "L" else image.convert("L"))  # MNIST-like files are "L" already
    middle = gray.size // 2
    if np.partition(gray, middle, axis=None)[middle] > 127:  # the median pixel is background: light
        return 255 - gray  # paper means dark ink
    return gray


def _transparency_carries_ink(image: Image.Image) -> bool:
    if "A" not in image.getbands():
        return False
    lowest_alpha, _ = image.getchannel("A").getextrema()
    return lowest_alpha < 255


def _background(gray: np.ndarray) -> np.ndarray:
    """A smooth estimate of the paper under the ink: shadows, gradients and tint."""
    height, width = gray.shape
    coarse = Image.fromarray(gray).resize((BACKGROUND_GRID, BACKGROUND_GRID), Image.Resampling.BOX)
    coarse = coarse.filter(ImageFilter.MedianFilter(BACKGROUND_WINDOW))
    return np.asarray(coarse.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def _keep_strokes(ink: np.ndarray) -> np.ndarray:
    """Scale the darkest strokes to 1 and zero what is fainter than Otsu's level between ink and
    paper: grain, faint shadows, the last of the lighting."""
    peak = float(np.percentile(ink, 99.5))
    if peak <= 0.0:
        return np.zeros_like(ink)
    ink = np.clip(ink / peak, 0.0, 1.0)
    threshold = _otsu_threshold(ink)
    return np.where(ink > threshold, ink, 0.0)


def _remove_ruled_lines(ink: np.ndarray) -> np.ndarray:
    """Erase the ruled lines of notebook paper: thin ink that runs along most of a row.

    The rows are searched at each of RULE_SLOPES, and the slope whose fullest row is fullest is
    taken as the page's. Only thin ink on those rows is erased, so a stroke that crosses a line
    keeps its pixels. A line hidden by the digit for more than half the width is left alone.
    """
    width = ink.shape[1]
    marked = ink > 0
    above_and_below = np.pad(marked, ((RULE_THICKNESS, RULE_THICKNESS), (0, 0)))
    thin = marked & ~above_and_below[: -2 * RULE_THICKNESS] & ~above_and_below[2 * RULE_THICKNESS :]

    rows, columns = np.nonzero(thin)
    needed = RULE_SPAN * width  # columns a line crosses
    best_cover, best_cover_of_level, best_levels = 0, None, None
    for slope in RULE_SLOPES:
        # The row each thin pixel would be on if lines of this slope were level (offset by the
        # width, to stay positive), then how many columns hold thin ink on each level or the
        # level above or below: a line may wander a row either way.
        levels = rows - np.round(slope * (columns - width / 2)).astype(int) + width
        cells = np.unique(np.concatenate([(levels + step) * width + columns for step in (-1, 0, 1)]))
        cover_of_level = np.bincount(cells // width)
        if cover_of_level.max(initial=0) > best_cover:
            best_cover, best_cover_of_level, best_levels = cover_of_level.max(), cover_of_level, levels
    if best_cover < needed:
        return ink
    line = best_cover_of_level >= needed
    erase = line[best_levels - 1] | line[best_levels] | line[best_levels + 1]
    cleaned = ink.copy()
    cleaned[rows[erase], columns[erase]] = 0.0
    return cleaned


def _otsu_threshold(values: np.ndarray, bins: int = 64) -> float:
    """The level that best splits ``values`` (all in [0, 1]) into two classes, by Otsu's method."""
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    mass_low = np.cumsum(counts * centres)
    mean_low = mass_low / np.maximum(weight_low, 1)
    mean_high = (mass_low[-1] - mass_low) / np.maximum(weight_high, 1)
    between_class_variance = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(edges[1:][np.argmax(between_class_variance)])


def to_mnist_frame(ink: np.ndarray) -> np.ndarray:
    """Crop ``ink`` to the digit, fit it in the 20-pixel box and centre it by mass in 28x28."""
    frame = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    if not ink.any():
        return frame  # a blank page: nothing to centre

    digit = _fit(_crop(ink, CROP_MASS), DIGIT_BOX * DETAIL)
    digit = _crop(_thicken(digit, STROKE_WIDTH * DETAIL))
    digit = _fit(digit, DIGIT_BOX)

    row_mass, col_mass = digit.sum(axis=1), digit.sum(axis=0)
    centre_row = float(np.dot(np.arange(digit.shape[0]), row_mass) / row_mass.sum())
    centre_col = float(np.dot(np.arange(digit.shape[1]), col_mass) / col_mass.sum())
    top = int(np.clip(round((IMAGE_SIZE - 1) / 2 - centre_row), 0, IMAGE_SIZE - digit.shape[0]))
    left = int(np.clip(round((IMAGE_SIZE - 1) / 2 - centre_col), 0, IMAGE_SIZE - digit.shape[1]))
    frame[top : top + digit.shape[0], left : left + digit.shape[1]] = np.round(digit * 255)
    return frame


def _crop(ink: np.ndarray, outside: float = 0.0) -> np.ndarray:
    """Cut ``ink`` to the rows and columns holding all its mass but ``outside`` at each edge."""
    bounds = []
    for axis in (1, 0):
        cumulative = np.cumsum(ink.sum(axis=axis))
        total = cumulative[-1]
        first = int(np.searchsorted(cumulative, outside * total, side="right"))
        last = int(np.searchsorted(cumulative, (1.0 - outside) * total, side="left"))
        bounds.append((first, max(first, last) + 1))
    (top, bottom), (left, right) = bounds
    return ink[top:bottom, left:right]


def _fit(digit: np.ndarray, box: int) -> np.ndarray:
    """Resize so the longer side is ``box`` pixels, keeping the aspect ratio; peak ink becomes 1."""
    height, width = digit.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = np.asarray(Image.fromarray(digit).resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    return np.clip(resized / max(float(resized.max()), 1e-6), 0.0, 1.0)


def _thicken(digit: np.ndarray, target_width: float) -> np.ndarray:
    """Widen strokes thinner than ``target_width`` pixels, as a thin pen would read as faint."""
    mask = digit > 0.5
    area = int(mask.sum())
    interior = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    boundary = area - int(interior.sum())
    width = 2 * area / max(boundary, 1)  # a stroke of width w and length l: area w*l, boundary 2*l
    grow = round(target_width - width)
    if grow < 2:
        return digit
    # A square maximum filter of odd side, as two running maxima: along columns, then rows. The
    # result keeps a margin of zeros, which the next crop removes.
    side = grow + 1 if grow % 2 == 0 else grow
    thick = np.pad(digit, side)
    for axis in (0, 1):
        thick = np.lib.stride_tricks.sliding_window_view(thick, side, axis=axis).max(axis=-1)
    return thick
