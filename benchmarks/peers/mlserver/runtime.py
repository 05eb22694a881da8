"""An MLServer custom runtime (``MLModel``), as MLServer's docs write one.

``images`` is a BYTES tensor of base64 PNGs (decoded with Pillow) or a UINT8 [N, 28, 28]
tensor; the batch goes through the SavedModel's ``serving_default`` signature.
"""

import base64
import io

import numpy as np
import tensorflow as tf
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput
from PIL import Image


class MnistRuntime(MLModel):
    async def load(self) -> bool:
        self.model = tf.saved_model.load(self.settings.parameters.uri)
        self.serve = self.model.signatures["serving_default"]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        tensor = payload.inputs[0]
        if tensor.datatype == "BYTES":
            files = [e if isinstance(e, bytes) else e.encode() for e in tensor.data.root]
            images = np.stack(
                [
                    np.asarray(Image.open(io.BytesIO(base64.b64decode(f))).convert("L"))
                    for f in files
                ]
            )
        else:
            images = NumpyCodec.decode_input(tensor).astype(np.uint8).reshape(-1, 28, 28)
        outputs = self.serve(images=tf.constant(images))
        probabilities = outputs["probabilities"].numpy()
        digits = outputs["digit"].numpy()
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                ResponseOutput(
                    name="digit", shape=[len(digits)], datatype="INT64", data=digits.tolist()
                ),
                ResponseOutput(
                    name="probabilities",
                    shape=list(probabilities.shape),
                    datatype="FP32",
                    data=probabilities.reshape(-1).tolist(),
                ),
            ],
        )
