#!/usr/bin/env python3
"""Do a policy's attention points say where an *unseen* towel lies? A held-out probe.

Like attention_probe.py, but instead of leave-one-out over every scene it fits a
ridge regression from the first tick's attention points (all, or `--coords`) to
the arm's pose at `--at` seconds (the expert's grasp, for the corner fold) on the
training seeds (below 1000) and scores it on the unseen ones (1000 and up), next
to the unseen poses' spread and the fit on the training seeds.

    kotoba eval POLICY --spec runs/sh35.toml --record DIR    # variant "shadow", seeds 0-19 and 1000-1014
    .venv/bin/python scripts/analysis/holdout_probe.py DIR [--coords 10 11 12 13] [--at 2.5]
"""
import argparse
import json
import re
from pathlib import Path

import numpy as np

from attention_probe import episode, predict, ridge


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--coords", type=int, nargs="+", help="attention coordinates to use (default: all)")
    ap.add_argument("--at", type=float, default=2.5, help="time of the pose to predict (s)")
    ap.add_argument("--lam", type=float, default=1e-3, help="ridge penalty")
    a = ap.parse_args()
    index = json.loads((a.dir / "index.json").read_text())
    xs, ys, seeds = [], [], []
    for e in index["episodes"]:
        att, _, pose = episode(a.dir / e["name"], a.at, [0, 1, 2])
        if att is None:
            raise SystemExit(f"{e['name']}: no attention points (record with a policy, variant shadow)")
        xs.append(att if a.coords is None else att[a.coords])
        ys.append(pose)
        seeds.append(int(re.search(r"seed (\d+)", e["operator"]).group(1)))
    x, y, s = np.array(xs), np.array(ys), np.array(seeds)
    train, test = s < 1000, s >= 1000
    if train.sum() < 2 or test.sum() < 1:
        raise SystemExit("need training seeds (< 1000) and unseen ones (>= 1000)")
    w = ridge(x[train], y[train], a.lam)
    rms = lambda d: np.sqrt((d ** 2).mean(0)).round(3)
    print(f"{train.sum()} training and {test.sum()} unseen scenes; shoulder_pan / shoulder_lift / elbow (rad)")
    print(f"  unseen RMS   {rms(predict(w, x[test]) - y[test])}")
    print(f"  unseen spread {y[test].std(0).round(3)}")
    print(f"  training fit {rms(predict(w, x[train]) - y[train])}")


if __name__ == "__main__":
    main()
