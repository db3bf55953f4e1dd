"""Plans: the best way to train or serve a model, searched over the choices a planner has."""
