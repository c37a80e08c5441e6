"""The AlphaStar-style agent, built from a typed view of an environment's spec (agents/spec.py); never imports envs."""
