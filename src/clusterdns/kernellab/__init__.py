"""The kernel lab: kube-proxy's DNS rules, conntrack and real resolvers in network namespaces."""
