"""One powertools ``Router`` per resource; ``api.app.build_resolver`` includes them all."""
