"""Architecture families: parameters, FLOPs, bytes and memory of each kind of model."""
