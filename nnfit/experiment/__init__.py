"""One experiment: the YAML file, its validated config, formulas, targets and data; one
run's training, metrics, run folder and figures. Imports the engine, never sweep or CLI.
"""
