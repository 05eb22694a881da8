"""Per-prediction explanations: where in the 28x28 input the evidence for the predicted digit is."""
