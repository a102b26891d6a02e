"""The bridge as a running process: start-up checks (``preflight``), the services it
owns and shares with every call (``services``: embedded Redis, database, event log,
store writer), and its child processes (``children``, ``embedded_redis``,
``store_writer``). The HTTP server that runs it all is :mod:`bridge.web.server`."""
