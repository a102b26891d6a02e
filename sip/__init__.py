"""The SIP user agent (pjsua2): trunks, PBXs, RTP media, DTMF and transfers."""
