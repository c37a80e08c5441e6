"""Data for the supervised tasks: loaders for the standard on-disk formats and small built-in data sets."""
