"""Agent assist (to come): what the agent's screen shows beside the live transcript.

Pure parts: ranking knowledge-base passages for what the caller just said, the next
best action from where the call stands in its flow and what is still missing,
sentiment and its trend, the end-of-call summary. One edge: a consumer of the event
stream (its own consumer group) that feeds those parts each call's events and
writes what they find back as events with ``source="assist"``
(``assist.suggestion`` among them), numbered by itself per call. It reads events and
writes events; the conversation never waits for it.
"""
