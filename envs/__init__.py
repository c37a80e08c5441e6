"""Environments: the shared contract (envs/contract/README.md), Skirmish, StarCraft II and the replay reader."""
