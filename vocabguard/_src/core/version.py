"""The package version, recorded in every manifest vocabguard writes."""

__version__ = "0.1.0"
