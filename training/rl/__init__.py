"""Reinforcement learning: actors, learner, return estimators, opponents."""
