"""An independent check of what we send and sign for NAVER WORKS, with PyJWT and cryptography
(from PyPI) and Python's own hmac.

Reads one JSON object on stdin:
  {"jwt": ..., "public_key": PEM, "client_id": ..., "service_account": ...,
   "signatures": [{"secret": ..., "body": ..., "signature": ...}, ...]}
and checks that the JWT is RS256 over base64url parts, verifies under the public key, and says
iss = client id, sub = service account, exp = iat + 3600 (integers); and that every
signature is Base64(HMAC-SHA256(secret, body)). Prints "ok" or exits non-zero with the reason.
"""

import base64
import hashlib
import hmac
import json
import sys

import jwt  # PyJWT
from cryptography.hazmat.primitives.serialization import load_pem_public_key


def main() -> None:
    spec = json.load(sys.stdin)
    token = spec["jwt"]
    header = jwt.get_unverified_header(token)
    assert header.get("alg") == "RS256", header
    assert header.get("typ") == "JWT", header
    for part in token.split("."):
        assert "=" not in part and "+" not in part and "/" not in part, "not base64url"
    key = load_pem_public_key(spec["public_key"].encode())
    claims = jwt.decode(
        token,
        key=key,
        algorithms=["RS256"],
        issuer=spec["client_id"],
        options={"require": ["iss", "sub", "iat", "exp"], "verify_iat": False},
    )
    assert claims["sub"] == spec["service_account"], claims
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int), claims
    assert claims["exp"] - claims["iat"] == 3600, claims
    for sig in spec.get("signatures", []):
        mac = hmac.new(sig["secret"].encode(), sig["body"].encode(), hashlib.sha256).digest()
        want = base64.b64encode(mac).decode()
        assert hmac.compare_digest(want, sig["signature"]), (sig["body"][:40], want)
    print("ok")


if __name__ == "__main__":
    main()
