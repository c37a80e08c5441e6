"""StarCraft II through pysc2's raw interface (needs the optional ``sc2`` extra; see ``envs.sc2.extra``).

Importing this package registers ``PerceiverStar/SC2-v0`` with gymnasium without importing pysc2.
"""

from envs.sc2.env import register_envs

register_envs()
