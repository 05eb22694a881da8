"""A BentoML service, as BentoML's docs write one: a PIL image in (multipart), a dict out."""

import os

import bentoml
import numpy as np
import tensorflow as tf
from PIL.Image import Image


@bentoml.service
class Mnist:
    def __init__(self) -> None:
        self.model = tf.saved_model.load(os.environ["MNIST_PEER_MODEL_DIR"])
        self.serve = self.model.signatures["serving_default"]

    @bentoml.api
    def predict(self, image: Image) -> dict:
        pixels = np.asarray(image.convert("L"))[np.newaxis]
        outputs = self.serve(images=tf.constant(pixels))
        return {
            "digit": int(outputs["digit"].numpy()[0]),
            "probabilities": outputs["probabilities"].numpy()[0].tolist(),
        }
