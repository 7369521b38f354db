"""The dnstap codec: Frame Streams framing (``framestream``) and dnstap messages
(``message``, over the schema in ``dnstap.proto``), without I/O.

The dnstap plugin writes with it and ``clusterdns tap`` reads with it.
"""
