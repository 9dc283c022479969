"""Measure the tagger against a labelled gold set: precision, recall and F1 per theme, micro and
macro averages, relevance accuracy and study-design accuracy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..formats import json_objects
from .tagger import TextInput


@dataclass
class GoldDocument:
    id: str
    input: TextInput
    relevant: bool
    themes: set[str]
    study_design: str | None
    disputed: set[str] = field(default_factory=set)  # themes the annotators did not agree on: not scored


def load_gold(path: Path) -> list[GoldDocument]:
    """Gold JSON Lines: id, title, text, kind, relevant, themes, study_design."""
    documents = []
    for number, row, problem in json_objects(Path(path).read_text(encoding="utf-8").splitlines()):
        if problem:
            raise ValueError(f"{path}: line {number} is not JSON: {problem}")
        documents.append(GoldDocument(
            id=row["id"], relevant=bool(row["relevant"]), themes=set(row.get("themes") or []),
            study_design=row.get("study_design"), disputed=set(row.get("themes_disputed") or []),
            input=TextInput(id=row["id"], title=row.get("title") or "", abstract=row.get("text") or "",
                            kind=row.get("kind"))))
    return documents


def score(gold: list[GoldDocument], predictions: dict[str, dict], themes: list[str]) -> dict:
    """Per-theme P/R/F1 over all documents (a document judged off-topic has no themes)."""
    per_theme = {}
    totals = {"tp": 0, "fp": 0, "fn": 0}
    for theme in themes:
        tp = fp = fn = 0
        for document in gold:
            if theme in document.disputed:
                continue
            predicted = theme in {t["theme"] for t in predictions[document.id]["themes"]}
            actual = theme in document.themes
            tp += predicted and actual
            fp += predicted and not actual
            fn += actual and not predicted
        per_theme[theme] = {**_prf(tp, fp, fn), "support": tp + fn}
        totals = {"tp": totals["tp"] + tp, "fp": totals["fp"] + fp, "fn": totals["fn"] + fn}
    supported = [m for m in per_theme.values() if m["support"]]
    relevance_right = sum(predictions[d.id]["relevant"] == d.relevant for d in gold)
    with_design = [d for d in gold if d.study_design]
    design_right = sum(predictions[d.id]["study_design"] == d.study_design for d in with_design)
    return {
        "documents": len(gold),
        "themes": per_theme,
        "micro": _prf(totals["tp"], totals["fp"], totals["fn"]),
        "macro": {k: round(sum(m[k] for m in supported) / len(supported), 3) if supported else 0.0
                  for k in ("precision", "recall", "f1")},
        "relevance_accuracy": round(relevance_right / len(gold), 3) if gold else 0.0,
        "study_design_accuracy": round(design_right / len(with_design), 3) if with_design else None,
    }


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3)}


def report(scores: dict) -> str:
    """The scores as a table for a terminal."""
    lines = [f"{'theme':<18} {'P':>6} {'R':>6} {'F1':>6} {'n':>4}"]
    for theme, m in scores["themes"].items():
        lines.append(f"{theme:<18} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f} {m['support']:>4}")
    for name in ("micro", "macro"):
        m = scores[name]
        lines.append(f"{name + ' average':<18} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f}")
    lines.append(f"relevance accuracy {scores['relevance_accuracy']:.3f} over {scores['documents']} documents")
    if scores["study_design_accuracy"] is not None:
        lines.append(f"study design accuracy {scores['study_design_accuracy']:.3f}")
    return "\n".join(lines)
