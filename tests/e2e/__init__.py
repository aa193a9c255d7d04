"""End-to-end tests: real containers through a real engine (a package, so that test module names
like ``test_router`` may repeat those in ``tests/unit``)."""
