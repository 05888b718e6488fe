"""interfaces/api."""
