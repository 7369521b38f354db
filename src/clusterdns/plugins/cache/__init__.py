"""The cache plugin (CoreDNS's cache)."""
