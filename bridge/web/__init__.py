"""The one FastAPI app: carrier webhooks and sockets, the JSON API, the dashboard."""
