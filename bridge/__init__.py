"""callbridge: the bridge process that wires carriers, media, flows, speech and storage."""

__version__ = "0.1.0"
