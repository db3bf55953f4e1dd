"""The built-in plugins. Each uses only the public plugin API (:mod:`ridgeline.plugin`),
so each is also an example of how to write one."""
