"""The HTTP API, wire-compatible with Render's public API v1.

``wire`` turns domain entities into Render's JSON (and owns list cursors), ``schemas`` holds the
request bodies we accept (pydantic models of Render's request schemas), ``errors`` maps the
domain error hierarchy to Render's error responses. Routers (one per resource) sit on top.
"""
