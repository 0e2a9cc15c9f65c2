"""Typed keys for values a middleware hands to the handlers of one request."""

from aiohttp import web

# The traceparent of the request's server span (tracing on), so a start can parent its orchestration.
TRACEPARENT = web.RequestKey("traceparent", str)
