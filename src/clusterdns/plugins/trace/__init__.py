"""The trace plugin: a span per query, a child per plugin, exported over OTLP."""
