"""The study behind ``make reproduce`` (``nnfit study``): the sweeps of
experiments/reproduce/, one report section each, written to REPORT.md.

``run`` runs the sections' sweeps and the report; ``sections`` lists the sections and
their files; ``existence``, ``shapes``, ``dimension``, ``depth`` and ``training`` write
them (text, tables and the study's own figures, drawn with ``draw``); ``report`` writes
the markdown. Imports sweep, experiment and engine, never the CLI.
"""
