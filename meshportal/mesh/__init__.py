"""The mesh: finding neighbouring boxes (mDNS), trusting them, talking to them (TLS)."""
