#!/usr/bin/env python3
"""Reference side of `kotoba bench text`: sentence-transformers throughput.

Reads the sentences the Rust bench wrote (a JSON list of strings), embeds them with
SentenceTransformer(...).encode on the given device, at batch 1 (one sentence per encode
call) and batch 32 (32 sentences per call), each for about --seconds, and prints one JSON
object: {"batch1": sentences/s, "batch32": sentences/s, versions, threads}.
Dependencies: scripts/text_setup_reference.sh.
"""

import argparse
import json
import sys
import time


def rate(fn, batches, seconds):
    """Calls fn on the batches round-robin for about `seconds`; returns sentences/s."""
    fn(batches[0])  # warm-up
    done, i, start = 0, 0, time.perf_counter()
    while True:
        b = batches[i % len(batches)]
        fn(b)
        done += len(b)
        i += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and i >= len(batches):
            return done / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--sentences", required=True, help="JSON file with a list of strings")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, help="torch CPU threads (the Rust side passes its own count)")
    args = ap.parse_args()

    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    if args.threads:
        torch.set_num_threads(args.threads)

    with open(args.sentences, encoding="utf-8") as f:
        sentences = json.load(f)
    model = SentenceTransformer(args.model_dir, device=args.device)

    def encode(batch):
        model.encode(batch, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    with torch.inference_mode():
        b1 = rate(encode, [[s] for s in sentences], args.seconds)
        b32 = rate(encode, [sentences[i:i + 32] for i in range(0, len(sentences), 32)], args.seconds)
    print(json.dumps({
        "batch1": b1,
        "batch32": b32,
        "device": args.device,
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "threads": torch.get_num_threads(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
