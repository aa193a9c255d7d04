"""Contract tests: one suite per port, run against every implementation of that port.

``store_contract.py`` is the ``Store`` contract; ``conftest.py`` says how to add an
implementation. Implementation-specific checks live next to it (``test_sqlite_specific.py``).
"""
