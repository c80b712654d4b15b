"""meshportal: the daemon of a booture (captive portal, lessons, wiki, mesh sync)."""

__version__ = "0.1.0"
