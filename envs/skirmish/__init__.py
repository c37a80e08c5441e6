"""Skirmish: the embedded StarCraft-like combat engine (numpy only; see envs/skirmish and ../shared/DESIGN.md)."""

from envs.skirmish.registration import register_envs

register_envs()
