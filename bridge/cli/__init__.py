"""The ``callbridge`` command line: ``main`` and its command groups (``call``,
``flows``, ``users``), each in a module of its own. Command names and options are a
public contract; the commands parse options and hand over to the rest of the house."""

from bridge.cli.main import main

__all__ = ["main"]
