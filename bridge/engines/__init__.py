"""Speech engines: one interface for a call's realtime speech session."""
