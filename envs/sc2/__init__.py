"""StarCraft II through pysc2's raw interface (needs the optional ``sc2`` extra; see ``envs.sc2.extra``)."""
