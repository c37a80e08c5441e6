"""Behaviour cloning from Skirmish replays (``pstar bc``): cached sequence dataset, trainer, held-out metrics."""
