"""Training job: MNIST IDX files -> softmax regression -> versioned SavedModel."""
