"""Evaluation against the built-in bots (``pstar eval``): win rates with 95% intervals, played in parallel on Ray.

from training.eval.config import EvalConfig
from training.eval.runner import evaluate
from training.eval.report import write_reports

result = evaluate(EvalConfig(games=20), "runs/rl/checkpoints")   # or "bot:hard"
write_reports(result, "runs/rl/eval")                             # eval.json, eval.md, eval.png, TensorBoard
"""
