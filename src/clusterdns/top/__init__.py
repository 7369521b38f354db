"""``clusterdns top``: a live view of one DNS server, from its /metrics or from dnstap.

``metrics`` turns a Prometheus text scrape into a snapshot and two snapshots into a report;
``taps`` turns dnstap records into the same report, with the top names and clients only a
per-query source can give; ``sources`` does the I/O (HTTP, the dnstap socket); ``render``
draws a report with rich.
"""
