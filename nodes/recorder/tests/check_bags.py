#!/usr/bin/env python3
"""Cross-check kotoba episodes with tools kotoba did not write.

For every episode directory given (or every episode of a dataset folder):
  - rosbags (rosbag2 reader + CDR deserialiser) opens the directory bag,
    checks metadata.yaml's counts, and deserialises every message;
  - the mcap library reads the file with its summary (CRCs validated), checks
    the ros2 profile, schemas, channel metadata and rosbag2 metadata record,
    and iterates every message; any Python warning is an error.
Prints one JSON line per episode; exits non-zero on the first problem.
"""
import json
import sys
import warnings
from pathlib import Path

warnings.simplefilter("error")


def episodes(paths):
    for p in map(Path, paths):
        if (p / "index.json").exists():
            index = json.loads((p / "index.json").read_text())
            for e in index["episodes"]:
                yield p / e["name"]
        else:
            yield p


def check_rosbags(bag: Path):
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    counts = {}
    with Reader(bag) as reader:
        expected = {c.topic: c.msgcount for c in reader.connections}
        types = {c.topic: c.msgtype for c in reader.connections}
        for conn, _t, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            assert msg is not None
            counts[conn.topic] = counts.get(conn.topic, 0) + 1
    for topic, n in expected.items():
        got = counts.get(topic, 0)
        if got != n:
            raise AssertionError(f"{bag}: rosbags read {got} messages on {topic}, metadata.yaml says {n}")
    return counts, types


def check_mcap(bag: Path):
    from mcap.reader import make_reader

    files = list(bag.glob("*.mcap"))
    assert len(files) == 1, f"{bag}: expected one .mcap, found {files}"
    counts = {}
    with open(files[0], "rb") as f:
        reader = make_reader(f, validate_crcs=True)
        header = reader.get_header()
        assert header.profile == "ros2", f"profile {header.profile!r}"
        summary = reader.get_summary()
        assert summary is not None, "no summary section"
        for ch in summary.channels.values():
            assert ch.message_encoding == "cdr", ch.message_encoding
            assert "offered_qos_profiles" in ch.metadata, ch.metadata
            assert ch.metadata.get("topic_type_hash", "").startswith("RIHS01_"), ch.metadata
            schema = summary.schemas[ch.schema_id]
            assert schema.encoding == "ros2msg", schema.encoding
        meta = {m.name: m.metadata for m in reader.iter_metadata()}
        assert "rosbag2" in meta and "serialized_metadata" in meta["rosbag2"], meta.keys()
        for _schema, channel, message in reader.iter_messages(log_time_order=False):
            assert message.log_time > 0
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
        stats = summary.statistics
        assert stats is not None and stats.message_count == sum(counts.values()), (stats, counts)
    return counts


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    n = 0
    for bag in episodes(sys.argv[1:]):
        rb, types = check_rosbags(bag)
        mc = check_mcap(bag)
        if rb != mc:
            raise AssertionError(f"{bag}: rosbags {rb} != mcap {mc}")
        print(json.dumps({"episode": bag.name, "messages": sum(rb.values()), "topics": rb, "types": types}))
        n += 1
    if n == 0:
        raise AssertionError("no episodes found")
    print(json.dumps({"ok": True, "episodes": n}))


if __name__ == "__main__":
    main()
