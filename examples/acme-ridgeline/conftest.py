# Opt in to ridgeline's pytest helpers (the catalog_factory fixture), as with pytester.
pytest_plugins = ["ridgeline.testing"]
