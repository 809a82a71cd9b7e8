"""The id contract: what every other layer builds on. Imports no other layer."""
