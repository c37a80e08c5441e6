"""Supervised runs of the Perceiver IO paper's other tasks (image, text, optical flow, multimodal) on one trainer."""
