#!/usr/bin/env python3
"""An independent rmw_zenoh-style peer, written without any kotoba code.

It uses the Python `eclipse-zenoh` binding and the `rosbags` CDR (de)serializer to
play the part of a ROS 2 node running rmw_zenoh_cpp: the exact data key
`<domain>/<topic>/<dds type>/<RIHS01 hash>`, the 33-byte attachment
(int64 seq, int64 source ns, 0x10, 16-byte GID), CDR-LE payloads.

  listen  --count N : receive N JointState samples, print one JSON line each
  publish --count N : publish N JointState samples with attachments
  echo    --count N : republish every sample of the ping key on the pong key
                      (latency benchmark peer)
"""
import argparse
import json
import struct
import sys
import time

import numpy as np
import zenoh
from rosbags.typesys import Stores, get_typestore

JS_TYPE = "sensor_msgs/msg/JointState"
JS_DDS = "sensor_msgs::msg::dds_::JointState_"
JS_HASH = "RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e"


def data_key(domain, topic):
    return f"{domain}/{topic.strip('/')}/{JS_DDS}/{JS_HASH}"


def open_session(connect):
    conf = zenoh.Config()
    conf.insert_json5("mode", '"peer"')
    conf.insert_json5("connect/endpoints", json.dumps([connect]))
    conf.insert_json5("scouting/multicast/enabled", "false")
    return zenoh.open(conf)


def parse_attachment(att):
    if att is None:
        return None
    raw = att.to_bytes()
    if len(raw) != 33 or raw[16] != 0x10:
        return {"len": len(raw), "valid": False}
    seq, ts = struct.unpack_from("<qq", raw, 0)
    return {"len": 33, "valid": True, "seq": seq, "source_ns": ts, "gid": raw[17:33].hex()}


def make_attachment(seq, gid):
    return struct.pack("<qq", seq, time.time_ns()) + bytes([0x10]) + gid


def listen(args, ts):
    session = open_session(args.connect)
    got = []
    sub = session.declare_subscriber(data_key(args.domain, args.topic))
    deadline = time.time() + args.timeout
    print(json.dumps({"ready": True}), flush=True)
    while len(got) < args.count and time.time() < deadline:
        sample = sub.try_recv()
        if sample is None:
            time.sleep(0.001)
            continue
        msg = ts.deserialize_cdr(sample.payload.to_bytes(), JS_TYPE)
        rec = {
            "key": str(sample.key_expr),
            "attachment": parse_attachment(sample.attachment),
            "stamp": [msg.header.stamp.sec, msg.header.stamp.nanosec],
            "frame_id": msg.header.frame_id,
            "name": list(msg.name),
            "position": [float(x) for x in msg.position],
            "velocity": [float(x) for x in msg.velocity],
            "effort": [float(x) for x in msg.effort],
        }
        got.append(rec)
        print(json.dumps(rec), flush=True)
    session.close()
    return 0 if len(got) >= args.count else 2


def publish(args, ts):
    session = open_session(args.connect)
    JointState = ts.types[JS_TYPE]
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    key = data_key(args.domain, args.topic)
    pub = session.declare_publisher(key)
    gid = bytes(range(16))
    time.sleep(args.warmup)
    for i in range(1, args.count + 1):
        msg = JointState(
            header=Header(stamp=Time(sec=100 + i, nanosec=500), frame_id="peer"),
            name=["shoulder", "elbow"],
            position=np.array([0.5 * i, -1.25], dtype=np.float64),
            velocity=np.array([0.1, 0.2], dtype=np.float64),
            effort=np.array([], dtype=np.float64),
        )
        payload = bytes(ts.serialize_cdr(msg, JS_TYPE))
        if args.garbage:
            payload = payload[: len(payload) // 2]
        if args.attachment == "none":
            pub.put(payload)
        else:
            pub.put(payload, attachment=make_attachment(i, gid))
        time.sleep(args.period)
    session.close()
    return 0


def echo(args, _ts):
    session = open_session(args.connect)
    pong = session.declare_publisher(data_key(args.domain, args.pong))
    n = [0]

    def on_ping(sample):
        att = sample.attachment.to_bytes() if sample.attachment is not None else None
        pong.put(sample.payload.to_bytes(), attachment=att)
        n[0] += 1

    sub = session.declare_subscriber(data_key(args.domain, args.topic), on_ping)
    print(json.dumps({"ready": True}), flush=True)
    deadline = time.time() + args.timeout
    while n[0] < args.count and time.time() < deadline:
        time.sleep(0.01)
    del sub
    session.close()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["listen", "publish", "echo"])
    p.add_argument("--connect", default="tcp/127.0.0.1:7447")
    p.add_argument("--domain", type=int, default=0)
    p.add_argument("--topic", default="/joint_states")
    p.add_argument("--pong", default="/joint_states_pong")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--period", type=float, default=0.02)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--attachment", choices=["valid", "none"], default="valid", help="publish: omit the attachment")
    p.add_argument("--garbage", action="store_true", help="publish: truncate every CDR payload")
    args = p.parse_args()
    ts = get_typestore(Stores.ROS2_JAZZY)
    return {"listen": listen, "publish": publish, "echo": echo}[args.mode](args, ts)


if __name__ == "__main__":
    sys.exit(main())
