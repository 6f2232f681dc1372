from contextlib import ExitStack as DoesNotRaise

import numpy as np
import pytest

from domain.appearance import EMBEDDING_DIM, color_embeddings

# BGR clothing colours
RED = (0, 0, 200)
BLUE = (200, 0, 0)
GREEN = (0, 180, 0)
DARK_GREY = (60, 60, 60)
BACKGROUND = (128, 128, 128)


def scene(people: list[tuple[list[int], tuple[int, int, int], tuple[int, int, int]]], *, noise: int = 0) -> np.ndarray:
    """A 200x300 BGR frame of people drawn as `(box xyxy, shirt colour, trousers colour)` on grey.

    The shirt covers the top half of the box and the trousers the bottom half; `noise` adds
    uniform per-pixel noise of that amplitude (seeded), like sensor noise.
    """
    img = np.full((200, 300, 3), BACKGROUND, np.uint8)
    for (x1, y1, x2, y2), shirt, trousers in people:
        mid = (y1 + y2) // 2
        img[y1:mid, x1:x2] = shirt
        img[mid:y2, x1:x2] = trousers
    if noise:
        rng = np.random.default_rng(0)
        img = np.clip(img.astype(int) + rng.integers(-noise, noise + 1, img.shape), 0, 255).astype(np.uint8)
    return img


LEFT, RIGHT = [20, 20, 80, 180], [200, 10, 270, 190]


@pytest.mark.parametrize(
    ("xyxy", "expected_shape", "exception"),
    [
        (np.empty((0, 4), np.float32), (0, EMBEDDING_DIM), DoesNotRaise()),  # empty input
        ([LEFT], (1, EMBEDDING_DIM), DoesNotRaise()),  # one box
        ([LEFT, RIGHT, LEFT], (3, EMBEDDING_DIM), DoesNotRaise()),  # one row per box, duplicates too
        ([[20.5, 20.2, 79.7, 180.9]], (1, EMBEDDING_DIM), DoesNotRaise()),  # fractional coordinates
    ],
)
def test_color_embeddings_shape_and_norm(xyxy, expected_shape, exception) -> None:
    img = scene([(LEFT, RED, BLUE), (RIGHT, GREEN, DARK_GREY)])
    with exception:
        emb = color_embeddings(img, np.asarray(xyxy, np.float32))
        assert emb.shape == expected_shape
        assert emb.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
        assert (emb >= 0).all()


@pytest.mark.parametrize(
    ("first", "second", "noise", "expected_min", "expected_max"),
    [
        ((RED, BLUE), (RED, BLUE), 0, 0.999, 1.001),  # identical clothes at two places: same descriptor
        ((RED, BLUE), (RED, BLUE), 12, 0.9, 1.001),  # identical clothes under sensor noise: still similar
        ((RED, RED), (BLUE, BLUE), 0, -0.001, 0.5),  # red vs blue outfit: dissimilar
        ((RED, DARK_GREY), (GREEN, DARK_GREY), 0, 0.4, 0.7),  # same trousers, different shirts: about half similar
        ((RED, BLUE), (BLUE, RED), 0, -0.001, 0.5),  # same colours swapped between torso and legs: dissimilar
    ],
)
def test_color_embeddings_similarity(first, second, noise, expected_min, expected_max) -> None:
    img = scene([(LEFT, *first), (RIGHT, *second)], noise=noise)
    emb = color_embeddings(img, np.array([LEFT, RIGHT], np.float32))
    similarity = float(emb[0] @ emb[1])
    assert expected_min <= similarity <= expected_max


@pytest.mark.parametrize(
    ("box", "expect_zero"),
    [
        ([400, 20, 480, 180], True),  # right of the frame
        ([-100, 20, -10, 180], True),  # left of the frame
        ([20, 250, 80, 400], True),  # below the frame
        ([20, -300, 80, -50], True),  # above the frame
        ([50, 50, 50, 150], True),  # zero width
        ([80, 20, 20, 180], True),  # x2 < x1
        ([-30, 20, 80, 180], False),  # partly outside: the visible part is described
    ],
)
def test_color_embeddings_boxes_outside_the_frame(box, expect_zero) -> None:
    img = scene([(LEFT, RED, BLUE)])
    emb = color_embeddings(img, np.array([box, LEFT], np.float32))
    if expect_zero:
        np.testing.assert_array_equal(emb[0], 0.0)
    else:
        assert float(np.linalg.norm(emb[0])) == pytest.approx(1.0, rel=1e-5)
    assert float(np.linalg.norm(emb[1])) == pytest.approx(1.0, rel=1e-5)  # other boxes unaffected
