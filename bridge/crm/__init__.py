"""The CRM (to come): every call lands in the company's CRM exactly once, and the
caller's record reaches the agent and the flow.

Pure parts: mapping a stored call (transcript summary, disposition, what was
collected) to each system's record (a HubSpot call engagement, a Salesforce Task, a
Zendesk ticket, a signed webhook). Edges: an outbox in the database, written in the
same transaction as the call's end, that a worker drains with retries and backoff,
idempotent on the call id; and one client per system, run off the event loop. What
it does is recorded as events with ``source="crm"``.
"""
