"""The observation/action contract every environment speaks and the agent is built from (see README.md here).

Skirmish, the StarCraft II env and the replay reader depend on this package, never on each other.
"""
