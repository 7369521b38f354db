"""The forward plugin (CoreDNS's forward)."""
