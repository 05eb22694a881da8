"""The FastAPI service that serves the MNIST SavedModel."""
