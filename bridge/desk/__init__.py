"""The agent desk (to come): human agents who answer callers in the dashboard.

Pure parts: agents and their states (available, away, wrap-up), queues with skills,
and the choice of who is offered a call next. Edges: the browser leg, a WebRTC leg on
aiortc that is a leg like the carriers' (frames both ways through the media engine,
recorded and transcribed as the agent's side), with its signalling over the
dashboard's authenticated WebSocket. Its events carry ``source="desk"``.
"""
