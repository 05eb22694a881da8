"""The MNIST digit-recognition service: FastAPI app, model runtime and image preprocessing."""
