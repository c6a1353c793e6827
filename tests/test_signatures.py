import hashlib
import hmac

from shared.platform.signatures import sign, sign_timestamped, verify


def test_matches_githubs_documented_example():
    # From GitHub's "Validating webhook deliveries" docs: secret "It's a Secret to Everybody".
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign("It's a Secret to Everybody", b"Hello, World!") == expected
    assert verify("It's a Secret to Everybody", b"Hello, World!", expected)


def test_rejects_forged_missing_and_unconfigured():
    good = sign("s", b"body")
    assert not verify("s", b"body!", good)
    assert not verify("other", b"body", good)
    assert not verify("s", b"body", None)
    assert not verify(None, b"body", good)


def test_timestamped_signature_covers_the_timestamp():
    body = b'{"a":1}'
    expected = "sha256=" + hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign_timestamped("k", "1700000000", body) == expected
    assert sign_timestamped("k", "1700000001", body) != expected
