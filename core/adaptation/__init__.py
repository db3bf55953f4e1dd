"""Adapting a model after pre-training: RL post-training (:mod:`.rl`, ``ridgeline.rl``) and
the cost of a longer prompt against a fine-tune or a distillation that removes it
(:mod:`.prompt_cost`, ``ridgeline.prompt_cost``)."""
