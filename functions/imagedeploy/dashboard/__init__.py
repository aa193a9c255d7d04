"""The web dashboard: server-rendered pages (Jinja2) served by the API's own resolver at ``/``
and under ``/dashboard``, in both homes. Every page is a view of the public API, called in
process with the signed-in user's API key (``dashboard.api``); see docs/architecture.md §21."""
