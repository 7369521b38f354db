"""The reload plugin (CoreDNS's reload)."""
