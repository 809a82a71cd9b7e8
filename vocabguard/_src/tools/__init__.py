"""Tools over published artifacts and saved models. Imports ``core`` and ``engines``."""
