"""Vonage Voice WebSockets: the answer NCCO, the L16 audio socket, REST control.

Wire format: ../shared/protocols/vonage-voice-websocket.md.
"""
