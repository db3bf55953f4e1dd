"""``ridgeline web``: forms for infer, serve and train, their numbers linked to explanations,
charts drawn with the Plotly that the ``plotly`` package ships, and a JSON API with the CLI's
``--json`` payloads. Needs ``pip install 'ridgeline[web]'``."""
