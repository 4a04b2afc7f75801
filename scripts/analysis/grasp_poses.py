#!/usr/bin/env python3
"""Where did each rollout grasp? The arm's pose when the gripper first closes.

Reads every episode of a recorded dataset (`kotoba eval ... --record DIR`),
finds the first /joint_states sample whose gripper reading falls below
`--closed` (the gripper is the last joint), and prints that time and the pose
of the chosen joints. With `--reference DIR2` (the expert on the same seeds,
e.g. variant "shadow") it pairs episodes by seed and prints the difference and
its RMS per joint, over the seeds where both grasped.

With `--release`, the pose is instead the one at the first sample after the
grasp whose gripper reading rises above `--open`: where the towel was let go.

With `--subgoal T`, the rollout's "grasp" is instead the policy's first
/policy/subgoal at or after T seconds: where its subgoal head expects the arm
at the end of the phase (the grasp pose, while reaching), scored the same way.

    .venv/bin/python scripts/analysis/grasp_poses.py ROLLOUTS [--reference EXPERT] [--joints 0 1 2] [--subgoal 0 | --release]
"""
import argparse
import json
import re
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader


def grasps(folder, closed, subgoal_at=None, release_above=None):
    """seed -> (time s, pose) at the first closed-gripper sample (or the first
    subgoal at or after `subgoal_at` s, or the first sample after the grasp
    with the gripper above `release_above`), or None."""
    index = json.loads((folder / "index.json").read_text())
    out = {}
    for e in index["episodes"]:
        seed = int(re.search(r"seed (\d+)", e["operator"]).group(1))
        with AnyReader([folder / e["name"]]) as r:
            t0, hit, grasped = None, None, False
            for c, t, raw in r.messages():
                t0 = t if t0 is None else t0
                if subgoal_at is None and c.topic == "/joint_states":
                    q = np.array(r.deserialize(raw, c.msgtype).position)
                    grasped = grasped or q[-1] < closed
                    if grasped and (release_above is None or q[-1] > release_above):
                        hit = ((t - t0) / 1e9, q)
                        break
                elif subgoal_at is not None and c.topic == "/policy/subgoal" and (t - t0) / 1e9 >= subgoal_at:
                    hit = ((t - t0) / 1e9, np.array(r.deserialize(raw, c.msgtype).points[0].positions))
                    break
        out[seed] = hit
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--reference", type=Path)
    ap.add_argument("--joints", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--closed", type=float, default=0.02, help="gripper reading (m) below which it counts as closed")
    ap.add_argument("--subgoal", type=float, metavar="T", help="score the policy's subgoal at T s instead of its grasp")
    ap.add_argument("--release", action="store_true", help="score the pose where the gripper first opens again after the grasp")
    ap.add_argument("--open", type=float, default=0.03, help="with --release: gripper reading (m) above which it counts as open")
    a = ap.parse_args()
    release = a.open if a.release else None
    got = grasps(a.dir, a.closed, a.subgoal, release)
    ref = grasps(a.reference, a.closed, None, release) if a.reference else {}
    diffs = []
    for seed in sorted(got):
        g, r = got[seed], ref.get(seed)
        fmt = lambda h: "no grasp" if h is None else f"{h[0]:5.1f} s " + " ".join(f"{h[1][j]:+.3f}" for j in a.joints)
        line = f"seed {seed}: {fmt(g)}"
        if a.reference:
            line += f"   expert {fmt(r)}"
            if g is not None and r is not None:
                d = g[1][a.joints] - r[1][a.joints]
                diffs.append(d)
                line += "   diff " + " ".join(f"{x:+.3f}" for x in d)
        print(line)
    if diffs:
        rms = np.sqrt((np.array(diffs) ** 2).mean(0))
        print(f"RMS over {len(diffs)} seeds where both grasped, joints {a.joints}: " + " ".join(f"{x:.3f}" for x in rms))


if __name__ == "__main__":
    main()
