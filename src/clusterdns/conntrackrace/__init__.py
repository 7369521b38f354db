"""The conntrack-race relay behind ``clusterdns lab``: the race as a decision (``race``) and
the UDP/TCP relay that applies it on loopback (``relay``), to reproduce the 5 s lookups of
glibc's and musl's parallel A/AAAA queries behind a Service's DNAT."""
