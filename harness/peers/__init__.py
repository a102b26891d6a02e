"""Real SIP programs as the bridge's peers: baresip and sipp."""
