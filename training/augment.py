"""Training-time augmentation, in the graph: random affine warps and stroke thickness.

MNIST's digits are all centred by their centre of mass in a 20x20 box with a ~2 px pen. Real
uploads, even after the service normalises them, differ in slant, size, position and pen width,
so the bigger models are trained on randomly varied copies. Every random draw comes from a
stateless generator keyed on (seed, epoch, step): a run is reproducible, whatever else touched
TensorFlow's global random state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

from training.models.base import IMAGE_SIZE

CENTRE = (IMAGE_SIZE - 1) / 2.0


@dataclass(frozen=True)
class Augmentation:
    """How far each random variation may go; all zeros is no augmentation."""

    rotate_degrees: float = 0.0
    scale: float = 0.0  # relative: 0.1 draws sizes in [0.9, 1.1]
    shear: float = 0.0  # horizontal shear factor, as a slant
    shift_pixels: float = 0.0
    thickness: float = 0.0  # chance that a digit's strokes are made thicker or thinner

    @property
    def enabled(self) -> bool:
        """True when any variation is on."""
        return any(
            value > 0
            for value in (
                self.rotate_degrees,
                self.scale,
                self.shear,
                self.shift_pixels,
                self.thickness,
            )
        )


def _uniform(seed: tf.Tensor, index: int, count: tf.Tensor, limit: float) -> tf.Tensor:
    """``count`` draws in [-limit, limit], from the ``index``-th stream of ``seed``."""
    stream = tf.stack([seed[0], seed[1] * 16 + index])
    return tf.random.stateless_uniform([count], seed=stream, minval=-limit, maxval=limit)


def _affine(images: tf.Tensor, config: Augmentation, seed: tf.Tensor) -> tf.Tensor:
    """Rotate, scale, slant and shift each image about the centre of the 28x28 field."""
    count = tf.shape(images)[0]
    angle = _uniform(seed, 0, count, math.radians(config.rotate_degrees))
    zoom = 1.0 + _uniform(seed, 1, count, config.scale)
    shear = _uniform(seed, 2, count, config.shear)
    shift_x = _uniform(seed, 3, count, config.shift_pixels)
    shift_y = _uniform(seed, 4, count, config.shift_pixels)
    # The transform maps an output pixel back to the input pixel it samples: the inverse of
    # (zoom * rotation * shear), applied around the centre after undoing the shift.
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    a0, a1 = cos, sin - shear * cos
    b0, b1 = -sin, cos + shear * sin
    x0, y0 = CENTRE + shift_x, CENTRE + shift_y
    a2 = CENTRE - a0 * x0 - a1 * y0
    b2 = CENTRE - b0 * x0 - b1 * y0
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=images[..., tf.newaxis],
        transforms=transforms,
        output_shape=tf.constant([IMAGE_SIZE, IMAGE_SIZE]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return warped[..., 0]


def _thickness(images: tf.Tensor, config: Augmentation, seed: tf.Tensor) -> tf.Tensor:
    """Make some digits' strokes a pixel thicker (grey dilation) or thinner (grey erosion)."""
    count = tf.shape(images)[0]
    field = images[..., tf.newaxis]
    thicker = tf.nn.max_pool2d(field, ksize=2, strides=1, padding="SAME")[..., 0]
    thinner = -tf.nn.max_pool2d(-field, ksize=2, strides=1, padding="SAME")[..., 0]
    draw = tf.random.stateless_uniform([count], seed=tf.stack([seed[0], seed[1] * 16 + 5]))
    choose = draw[:, tf.newaxis, tf.newaxis]
    half = config.thickness / 2
    return tf.where(choose < half, thicker, tf.where(choose < config.thickness, thinner, images))


def augment(images: tf.Tensor, config: Augmentation, seed: tf.Tensor) -> tf.Tensor:
    """Randomly varied copies of float images ``[N, 28, 28]`` in [0, 1]; ``seed`` is int64 [2]."""
    if config.thickness > 0:
        images = _thickness(images, config, seed)
    if config.rotate_degrees or config.scale or config.shear or config.shift_pixels:
        images = _affine(images, config, seed)
    return images
