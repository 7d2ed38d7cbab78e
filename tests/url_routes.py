"""Every route of the URL conf, for tests generated from it (the access matrix, the error shapes)."""

import re

from django.urls import URLPattern, URLResolver, get_resolver


def url_routes(patterns=None, prefix="", namespace=None):
    """(route text, namespaced name, view class or function, kwarg names, viewset actions) of every
    named URL outside the admin (which the access matrix walks through the admin registry)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from url_routes(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            if route.startswith("admin/") or "format" in route or pattern.name is None:
                continue
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", pattern.callback)
            kwargs = set(re.findall(r"<(?:\w+:)?(\w+)>", route)) | set(re.findall(r"\(\?P<(\w+)>", route))
            actions = getattr(pattern.callback, "actions", None) or {}
            yield route, name, view, sorted(kwargs), actions
