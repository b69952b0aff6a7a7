"""publisher: branded quote cards, posted as threads to Bluesky and X on a schedule."""

__version__ = "0.1.0"
