"""Framework-neutral pieces of the notebooks' experiments, one module per topic.

- `tasks`: sequence-to-sequence tasks (dates, toy translation) and their scores by source length;
- `lengths`: accuracy by target position for short and long sources (the bottleneck), and the
  exact match that per-token errors alone explain;
- `alignment`: attention weights against the toy grammar's gold alignment;
- `compare`: one model retrained with each attention scorer, quality by length and seconds per step.

The notebooks call them as ``experiments.<function>``; the names below are that interface.
"""
from seq2bert.experiments.alignment import (AGREEING, alignment_accuracy, alignment_by_class, digits_on_same_digit,
                                           reordered_example)
from seq2bert.experiments.compare import Comparison, ScorerRun, compare_scorers
from seq2bert.experiments.lengths import accuracy_by_position, exact_match_if_independent
from seq2bert.experiments.tasks import Task, dates_task, examples, make_task, pick_by_length, score, toy_task

__all__ = ["AGREEING", "Comparison", "ScorerRun", "Task", "accuracy_by_position", "alignment_accuracy",
           "alignment_by_class", "compare_scorers", "digits_on_same_digit", "exact_match_if_independent", "dates_task",
           "examples", "make_task", "pick_by_length", "reordered_example", "score", "toy_task"]
