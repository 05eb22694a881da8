"""Augmentation varies the digits as configured, reproducibly, and never when switched off."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from training.augment import Augmentation, augment


def square(count: int = 8) -> tf.Tensor:
    """Float images with a 6x6 bright square in the centre of the field."""
    images = np.zeros((count, 28, 28), np.float32)
    images[:, 11:17, 11:17] = 1.0
    return tf.constant(images)


def centre_of_mass(images: np.ndarray) -> np.ndarray:
    rows, cols = np.indices((28, 28))
    mass = images.sum(axis=(1, 2))
    return np.stack(
        [(images * rows).sum(axis=(1, 2)) / mass, (images * cols).sum(axis=(1, 2)) / mass], axis=1
    )


SEED = tf.constant([1, 2], tf.int64)


def test_no_augmentation_changes_nothing() -> None:
    assert not Augmentation().enabled
    np.testing.assert_array_equal(augment(square(), Augmentation(), SEED).numpy(), square().numpy())


def test_shifts_move_the_digit_within_the_configured_range() -> None:
    moved = augment(square(64), Augmentation(shift_pixels=3.0), SEED).numpy()
    offsets = centre_of_mass(moved) - 13.5
    assert np.abs(offsets).max() <= 3.0 + 1e-3
    assert np.abs(offsets).max() > 1.0  # it does move
    np.testing.assert_allclose(moved.sum(axis=(1, 2)), 36.0, rtol=0.02)  # nothing cut off


def test_rotation_and_scale_keep_the_digit_centred_and_change_its_shape() -> None:
    varied = augment(square(32), Augmentation(rotate_degrees=30, scale=0.2), SEED).numpy()
    np.testing.assert_allclose(centre_of_mass(varied), 13.5, atol=0.05)
    assert not np.allclose(varied, square(32).numpy())


def test_thickness_makes_some_strokes_thicker_and_some_thinner() -> None:
    varied = augment(square(200), Augmentation(thickness=1.0), SEED).numpy()
    ink = varied.sum(axis=(1, 2))
    assert set(np.round(ink).astype(int)) == {25, 49}  # 6x6 eroded to 5x5, dilated to 7x7


def test_the_same_seed_gives_the_same_copies() -> None:
    config = Augmentation(rotate_degrees=15, scale=0.1, shear=0.3, shift_pixels=2, thickness=0.5)
    first = augment(square(), config, SEED).numpy()
    np.testing.assert_array_equal(first, augment(square(), config, SEED).numpy())
    other = augment(square(), config, tf.constant([1, 3], tf.int64)).numpy()
    assert not np.array_equal(first, other)
