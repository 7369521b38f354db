"""``clusterdns doctor node``: the node's kernel, conntrack and kube-proxy, read and judged."""
