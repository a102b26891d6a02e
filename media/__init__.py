"""The media engine: codecs, resampling, VAD, end of turn, playout. Pure numpy, no I/O."""
