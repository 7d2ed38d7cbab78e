"""The annotation workflow's REST API (thin: parse, call a service or selector, serialize)."""
