"""The report's sections: a fixed list, each with the study files it reads.

A file named here and missing from the experiments folder stops the study before it
runs (:func:`nnfit.study.run.plan`); a file there and named nowhere is not run.
"""

from __future__ import annotations

from nnfit.study import depth, dimension, existence, shapes, training
from nnfit.study.report import Section

SECTIONS: tuple[Section, ...] = (
    Section(
        1,
        "Existence and training: what one layer can represent, what training finds",
        existence.FILES,
        existence.section_1,
    ),
    Section(2, "Which activations work", shapes.ACTIVATION_FILES, shapes.section_2),
    Section(3, "Continuity: a square wave", shapes.STEP_FILES, shapes.section_3),
    Section(4, "Dimension: Barron's rate against the curse", dimension.FILES, dimension.section_4),
    Section(5, "Depth", depth.FILES, depth.section_5),
    Section(6, "ε and width", existence.FILES, existence.section_6),
    Section(
        7,
        "Training: vanishing gradients, optimizers, L1 and L2",
        training.FILES,
        training.section_7,
    ),
)
