"""Data shipped with ridgeline: ``accelerators/*.toml`` and ``models/*.toml``.

Each file's stem is its id. Files are data: nothing in them is evaluated.
"""
