"""The loop plugin (CoreDNS's loop)."""
