"""The bridge as a running process: start-up checks (``preflight``), the services it
owns (embedded Redis, database, event log, store writer), the calls it holds and
drains (``calls``), the HTTP server with its signal handling (``server``), and its
child processes."""
