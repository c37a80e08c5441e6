"""Training: behaviour cloning, RL, evaluation, checkpoints and the ``pstar`` command line (see README.md)."""
