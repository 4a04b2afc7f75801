#!/usr/bin/env python3
"""Writes the golden embeddings that policies/text/tests/golden.rs checks candle against.

Embeds a fixed list of sentences with the reference implementation
(sentence-transformers on CPU, loading the very model folder that
scripts/setup_text_model.sh installed) and writes them with the library versions to
policies/text/tests/data/golden_minilm.json. Run it again only when the model or the
sentence list changes, and commit the result:

    scripts/text_setup_reference.sh        # torch + sentence-transformers into .venv
    .venv/bin/python scripts/text_golden.py [--model-dir DIR]
"""

import argparse
import json
import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
OUT = REPO / "policies/text/tests/data/golden_minilm.json"
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"

LONG = (
    "To fold a bath towel neatly, lay it flat on the table with the long edge facing you, "
    "smooth out every wrinkle with both palms, and check that the corners are square. "
) * 8 + "Finally place the folded towel on the shelf."

SENTENCES = [
    # task instructions
    "fold the towel in half from left to right",
    "fold the towel in half from bottom to top",
    "fold the towel corner to corner",
    # labels spoken while teaching
    "reaching for the corner",
    "holding the towel",
    "folding",
    "releasing",
    "grasping the corner",
    # Japanese: the model is English-only, but must still give the reference's vector
    "タオルを半分に折ってください",
    # empty-ish: only punctuation survives stripping
    " .",
    # upper case, accents and digits go through the BERT normaliser
    "Fold the TOWEL twice, then put it in the Café box #3!",
    # longer than the model's 256 word pieces: truncated
    LONG,
]


def main() -> int:
    default_dir = pathlib.Path(
        os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    ) / "kotoba/models/all-MiniLM-L6-v2"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=pathlib.Path, default=default_dir)
    ap.add_argument("--out", type=pathlib.Path, default=OUT)
    args = ap.parse_args()
    if not (args.model_dir / "model.safetensors").is_file():
        print(f"no model in {args.model_dir}; run scripts/setup_text_model.sh", file=sys.stderr)
        return 1

    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(args.model_dir), device="cpu")
    vectors = model.encode(SENTENCES, batch_size=32, convert_to_numpy=True, normalize_embeddings=False)
    tok = model.tokenizer
    entries = []
    for text, vec in zip(SENTENCES, vectors):
        untruncated = len(tok(text.strip(), add_special_tokens=True, truncation=False)["input_ids"])
        entries.append({
            "text": text,
            # word pieces incl. [CLS]/[SEP] before truncation at max_seq_length
            "tokens": untruncated,
            "embedding": [float(x) for x in vec],
        })
    doc = {
        "model_id": MODEL_ID,
        "max_seq_length": model.max_seq_length,
        "generator": "scripts/text_golden.py",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "sentences": entries,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} embeddings to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
