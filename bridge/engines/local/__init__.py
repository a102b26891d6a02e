"""The local engine: pocketsphinx recognition constrained by the flow, hibari-tts speech.

:class:`~bridge.engines.local.engine.LocalEngine` is the engine; recognition runs in
processes of its own (:mod:`.recognition_worker`), which import only what
recognition needs, so this package's ``__init__`` imports nothing.
"""
