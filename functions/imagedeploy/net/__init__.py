"""Outbound HTTP on a user's behalf, for both homes: ``egress`` (the policy: which addresses
and URLs), ``addresses`` (classifying an IP), ``pinned`` (an httpx transport connecting only to
checked addresses), ``retry_after``. Import the modules: this package imports nothing, so the
policy does not pull httpx into functions that never send a request."""
