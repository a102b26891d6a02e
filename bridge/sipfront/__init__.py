"""The SIP front door when SIP is spread over worker processes: Kamailio's config and
process (``kamailio``), the pool that starts, watches and restarts workers (``pool``),
and one worker's own entry point (``worker``). With one process answering SIP itself
none of this runs; the SIP leg itself is ``bridge.legs.sip``."""
