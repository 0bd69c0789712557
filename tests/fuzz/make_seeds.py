#!/usr/bin/env python3
"""Writes the binary seed corpora of the protobuf fuzz targets.

tests/fuzz/submission/ and tests/fuzz/log_entry/ hold v1.Submission and
v1.LogEntry messages built from the signed examples of tests/vectors/signing.json
(so the validators get past the signature checks) and encoded with
`protoc --encode`. Run from anywhere: tests/fuzz/make_seeds.py
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROTO_DIR = os.path.join(ROOT, "proto")


def text_field(name, value):
    if isinstance(value, int):
        return f"{name}: {value}"
    return f"{name}: {json.dumps(value)}"


def bytes_field(name, hex_value):
    return f'{name}: "' + "".join(f"\\x{hex_value[i:i+2]}" for i in range(0, len(hex_value), 2)) + '"'


def fields(vector, rename=None, skip=()):
    rename = rename or {}
    return [text_field(rename.get(f["name"], f["name"]), f["value"])
            for f in vector["fields"] if f["name"] not in skip]


def encode(message_type, text):
    result = subprocess.run(
        ["protoc", f"--proto_path={PROTO_DIR}", f"--encode=fedrelay.v1.{message_type}",
         "fedrelay/v1/fedrelay.proto"], input=text.encode(), capture_output=True, check=True)
    return result.stdout


def main():
    vectors = {v["name"]: v for v in json.load(open(os.path.join(ROOT, "tests/vectors/signing.json")))["vectors"]}
    cert = lambda name: "{ " + " ".join(fields(vectors[name])) + f' signature: "{vectors[name]["signature_hex"]}"' + " }"
    join = vectors["alice joins guild g1 via alpha"]
    ban = vectors["beta bans alice from g1"]
    invite = vectors["alice invites bob"]
    accept = vectors["bob accepts"]
    migration = vectors["alice migrates to beta"]
    profile = vectors["alice profile"]
    items = {
        "federation_request": ("federation_request",
                               " ".join(fields(join) + [bytes_field("signature", join["signature_hex"])])),
        "ban": ("ban", " ".join(fields(ban) + [bytes_field("signature", ban["signature_hex"])])),
        "dm_invite": ("dm_invite", "invite { " + " ".join(
            fields(invite, skip=("token_sha256",)) + ['token: "secret-token"',
                                                    bytes_field("signature", invite["signature_hex"]),
                                                    "device_cert " + cert("alice device cert")]) + " }"),
        "dm_accept": ("dm_accept", " ".join(
            fields(accept, skip=("decision",)) + [bytes_field("signature", accept["signature_hex"]),
                                                  "device_cert " + cert("bob device cert")])),
        "migration": ("migration", " ".join(fields(migration) + [f'signature: "{migration["signature_hex"]}"'])),
        "profile": ("profile", " ".join(fields(profile) + [bytes_field("signature", profile["signature_hex"]),
                                                           "device_cert " + cert("alice device cert")])),
    }
    for target in ("submission", "log_entry"):
        os.makedirs(os.path.join(HERE, target), exist_ok=True)
    for name, (field, body) in items.items():
        seed = encode("Submission", f'correlation_id: "{name}" {field} {{ {body} }}')
        open(os.path.join(HERE, "submission", name), "wb").write(seed)
        if name == "dm_invite":  # logged invites carry the token's hash, not the token
            token_sha256 = [f["value"] for f in invite["fields"] if f["name"] == "token_sha256"][0]
            body = " ".join([bytes_field("token_sha256", token_sha256)] +
                            fields(invite, skip=("token_sha256",)) +
                            [bytes_field("signature", invite["signature_hex"]),
                             "device_cert " + cert("alice device cert")])
        entry = encode("LogEntry", f'event_id: 1 received_at: 1790000000000 kind: "{field}" {field} {{ {body} }}')
        open(os.path.join(HERE, "log_entry", name), "wb").write(entry)
    operator = 'action: "peer_add" server_id: "alpha.example" pubkey: "' + "8d" * 32 + '" may_ban: "*" timestamp: 1'
    open(os.path.join(HERE, "log_entry", "operator_action"), "wb").write(
        encode("LogEntry", f'event_id: 1 kind: "operator_action" operator_action {{ {operator} }}'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
