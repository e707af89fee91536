"""Local stand-ins for paid services, speaking their real wire protocols (for `tenantry dev` and the tests)."""
