"""KServe's ModelServer with a custom ``kserve.Model``, as KServe's docs write one.

Run in its own venv (``setup.sh``): ``python kserve_server.py --model_dir DIR --http_port N``.
The v1 request is ``{"instances": [{"image_bytes": {"b64": ...}}]}``; each PNG is decoded with
Pillow and the batch goes through the SavedModel's ``serving_default`` signature.
"""

import argparse
import base64
import io

import kserve
import numpy as np
import tensorflow as tf
from PIL import Image


class Mnist(kserve.Model):
    def __init__(self, name: str, model_dir: str) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.load()

    def load(self) -> bool:
        self.model = tf.saved_model.load(self.model_dir)
        self.serve = self.model.signatures["serving_default"]
        self.ready = True
        return self.ready

    def predict(self, payload: dict, headers: dict | None = None) -> dict:
        images = [
            np.asarray(
                Image.open(io.BytesIO(base64.b64decode(i["image_bytes"]["b64"]))).convert("L")
            )
            for i in payload["instances"]
        ]
        outputs = self.serve(images=tf.constant(np.stack(images)))
        probabilities = outputs["probabilities"].numpy()
        digits = outputs["digit"].numpy()
        return {
            "predictions": [
                {"digit": int(d), "probabilities": p.tolist()}
                for p, d in zip(probabilities, digits, strict=True)
            ]
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    kserve.ModelServer().start([Mnist("mnist", args.model_dir)])
