"""envs package (see ../shared/DESIGN.md)."""
