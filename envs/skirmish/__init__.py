"""Skirmish: the embedded StarCraft-like combat engine (numpy only; its contract: envs/contract/README.md)."""

from envs.skirmish.registration import register_envs

register_envs()
