"""The media engine: codecs, resampling, VAD, end of turn, playout, in-band DTMF, and a
recording's samples and WAV bytes. Pure numpy, no I/O (tests/test_layering.py checks)."""
