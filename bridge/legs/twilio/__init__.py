"""Twilio Media Streams: the voice webhook, the bidirectional stream, REST control.

Wire format: ../shared/protocols/twilio-media-streams.md.
"""
