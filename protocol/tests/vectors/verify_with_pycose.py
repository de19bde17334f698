#!/usr/bin/env python3
"""Verify the committed COSE_Sign1 vector with pycose, an independent RFC 9052 implementation.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install pycose 'cbor2<6'  # pycose 1.1 expects cbor2 5 (lists, not tuples)
    /tmp/venv/bin/python protocol/tests/vectors/verify_with_pycose.py

Exits non-zero on any mismatch.
"""

import hashlib
import pathlib
import sys

import cbor2
from pycose.algorithms import EdDSA
from pycose.headers import Algorithm, ContentType, KID
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message

HERE = pathlib.Path(__file__).resolve().parent


def read_hex(name: str) -> bytes:
    return bytes.fromhex((HERE / name).read_text().strip())


def main() -> int:
    envelope = read_hex("site-report.cose.hex")
    public_key = read_hex("site-report.public-key.hex")
    kid = read_hex("site-report.kid.hex")
    payload = read_hex("site-report.payload.hex")

    # The kid is the SHA-256 of the key's SubjectPublicKeyInfo DER (RFC 8410).
    spki = bytes.fromhex("302a300506032b6570032100") + public_key
    assert hashlib.sha256(spki).digest() == kid, "kid is not SHA-256 of the SPKI"

    assert envelope[0] == 0xD2, "not tagged COSE_Sign1 (tag 18)"
    message = Sign1Message.decode(envelope)
    assert message.phdr[Algorithm] == EdDSA, "alg is not EdDSA"
    assert message.phdr[KID] == kid, "kid mismatch"
    assert message.phdr[ContentType] == "application/vnd.quietcount.site-report+cbor"
    assert not message.uhdr, "unprotected header is not empty"
    assert message.payload == payload, "payload differs"

    message.key = OKPKey(crv=Ed25519, x=public_key)
    assert message.verify_signature(), "signature does not verify"

    # A flipped payload bit must fail.
    tampered = Sign1Message.decode(envelope)
    tampered.payload = payload[:-1] + bytes([payload[-1] ^ 1])
    tampered.key = message.key
    assert not tampered.verify_signature(), "tampered payload verified"

    report = cbor2.loads(payload)
    print(
        f"OK: pycose verified {len(envelope)}-byte envelope; site {report['site']}, "
        f"period {report['period']}, {len(report['indicators'])} indicators"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
