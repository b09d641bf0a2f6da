"""Grids of runs: expanding and validating the grid, workers (local or Dask), the summary,
fitted rates and the error-vs-width figure. Imports experiment and engine, never the CLI.
"""
