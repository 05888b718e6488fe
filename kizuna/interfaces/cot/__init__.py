"""interfaces/cot."""
