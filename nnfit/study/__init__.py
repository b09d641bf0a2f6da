"""The reproduce study: runs the sweeps of experiments/reproduce/ and writes REPORT.md.
Imports sweep, experiment and engine, never the CLI.
"""
