"""cloudeploy's version: a leaf, so that modules below the facade can read it."""

__version__ = "0.1.0"
