"""The loadbalance plugin (CoreDNS's loadbalance)."""
