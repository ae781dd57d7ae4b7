"""Framework-neutral pieces of the notebooks' experiments, one module per topic.

- `tasks`: sequence-to-sequence tasks (dates, toy translation) and their scores by source length;
- `lengths`: accuracy by target position for short and long sources (the bottleneck);
- `alignment`: attention weights against the toy grammar's gold alignment.

The notebooks call them as ``experiments.<function>``; the names below are that interface.
"""
from seq2bert.experiments.alignment import alignment_accuracy, reordered_example
from seq2bert.experiments.lengths import accuracy_by_position
from seq2bert.experiments.tasks import Task, dates_task, examples, make_task, score, toy_task

__all__ = ["Task", "accuracy_by_position", "alignment_accuracy", "dates_task", "examples", "make_task",
           "reordered_example", "score", "toy_task"]
