"""Registers the accelerator specs and model presets shipped in ``ridgeline.registry``."""

from __future__ import annotations

from importlib.resources import files

from ridgeline.plugin import hookimpl, load_accelerator, load_model


def _toml_files(folder: str):
    root = files("ridgeline.registry") / folder
    return sorted((p for p in root.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name)


@hookimpl
def ridgeline_register_accelerators(register):
    for path in _toml_files("accelerators"):
        register(load_accelerator(path))


@hookimpl
def ridgeline_register_models(register):
    for path in _toml_files("models"):
        register(load_model(path))
