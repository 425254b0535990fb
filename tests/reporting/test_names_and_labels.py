"""Variant names from prune specs, unique within a report; point labels placed clear of
points and of each other; badges from row notes."""

from __future__ import annotations

import random

from edge_vit.reporting import schema as S
from edge_vit.reporting.columns import badges
from edge_vit.reporting.labels import Box, place
from edge_vit.reporting.names import unique_names, variant_name


def spec(heads=0.0, mlp=0.0, depth=0.0, epochs=None, criterion="magnitude", budget=None):
    return {"plan": {"heads": heads, "mlp": mlp, "depth": depth, "criterion": criterion,
                     "budget": budget},
            "finetune": {"epochs": epochs} if epochs else None}


def test_names_say_what_was_pruned_and_how_it_recovered():
    assert variant_name(None) == "unpruned"
    assert variant_name(spec(0.5, 0.5, epochs=2)) == "heads −50% · MLP −50% · KD 2 ep"
    assert variant_name(spec(0.25, 0.5, 0.34)) == "heads −25% · MLP −50% · depth −34%"
    assert variant_name(spec(mlp=0.5, criterion="taylor")) == "MLP −50% · taylor"
    assert variant_name(spec(budget={"budget_ms": 0.42, "asked": "0.5x"})) == "budget 0.5× p50"
    assert variant_name(spec(budget={"budget_ms": 12.0, "asked": "12ms"})) == "budget 12 ms"


def test_names_are_unique_in_a_report():
    names = unique_names({"vit-pruned-aaaa": ("vit", spec(0.5)),
                          "vit-pruned-bbbb": ("vit", spec(0.5)), "vit": ("vit", None)})
    assert names == {"vit-pruned-aaaa": "heads −50% (aaaa)",
                     "vit-pruned-bbbb": "heads −50% (bbbb)", "vit": "unpruned"}
    two = unique_names({"a": ("deit_tiny", None), "b": ("vit_demo", None)})
    assert two == {"a": "deit_tiny · unpruned", "b": "vit_demo · unpruned"}


def test_labels_avoid_points_labels_and_the_frame():
    rng = random.Random(0)
    area = Box(60, 30, 500, 380)
    pts = [(rng.uniform(200, 260), rng.uniform(150, 190), 5.0) for _ in range(20)]
    placed = place(pts, [(x, y, str(i + 1)) for i, (x, y, _) in enumerate(pts)], area)
    boxes = [p.box for p in placed]
    for i, b in enumerate(boxes):
        assert b.inside(area)
        assert not any(b.hits(o) for o in boxes[i + 1:])
        assert not any(b.hits(Box(x - r, y - r, x + r, y + r)) for x, y, r in pts)
    assert any(p.leader for p in placed)  # a cluster this tight needs some further out


def test_badges_classify_notes_and_keep_the_rest():
    r = S.ReportRow(device="d", model_id="m", format="onnx", precision="fp32", runtime="ort",
                    p50_ms=1.0, rounds=5, notes="noisy latency: no quiet round; measured in 5 "
                    "interleaved round(s) of session x; 3 round(s) dropped and repeated: 3 busy; "
                    "within the noise of a onnx/fp32/ort; something else")
    words = [b.word for b in badges(r)]
    assert words == ["noisy", "rounds dropped", "tie", "note"]  # the session note is not a row's
    assert badges(r)[-1].text == "something else"


def test_accuracy_from_elsewhere_gets_its_own_badge():
    r = S.ReportRow(device="d", model_id="m", format="onnx", precision="fp32",
                    runtime="openvino", p50_ms=1.0, rounds=5,
                    notes="accuracy measured at fp32, this device ran bf16; accuracy of this "
                          "same file measured in onnxruntime, not openvino")
    assert [b.word for b in badges(r)] == ["acc. precision",
                                           "acc. runtime"]
