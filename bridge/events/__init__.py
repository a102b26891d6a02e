"""The durable event log: typed records, a buffered publisher, consumer groups."""
