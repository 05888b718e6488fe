"""warning."""
