#!/usr/bin/env python3
"""Reads an .rrd written by kotoba-replay with the Python rerun-sdk (same version
as the rerun crate) and prints, as JSON, what each entity holds:

    {"stores": {"recordings": [...ids], "blueprints": n},
     "entities": {"/cameras/camera/image_raw": {"rows": 20, "static_rows": 0,
                  "components": [...], "timelines": [...]}, ...}}

Usage: read_rrd.py FILE.rrd
"""
import json
import sys

from rerun.experimental import RrdReader


def main() -> None:
    reader = RrdReader(sys.argv[1])
    recordings = reader.recordings()
    entities: dict[str, dict] = {}
    for chunk in reader.stream():
        e = entities.setdefault(
            chunk.entity_path, {"rows": 0, "static_rows": 0, "components": set(), "timelines": set()}
        )
        e["static_rows" if chunk.is_static else "rows"] += chunk.num_rows
        e["timelines"].update(chunk.timeline_names)
        names = chunk.to_record_batch().schema.names
        e["components"].update(n for n in names if ":" in n)
    out = {
        "stores": {
            "recordings": [r.recording_id for r in recordings],
            "applications": [r.application_id for r in recordings],
            "blueprints": len(reader.blueprints()),
        },
        "entities": {
            k: {**v, "components": sorted(v["components"]), "timelines": sorted(v["timelines"])}
            for k, v in entities.items()
        },
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
