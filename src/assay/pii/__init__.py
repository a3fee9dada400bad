"""Detectors for personal data and secrets in text, and redaction: one module for scorers and monitoring.

``detect(text)`` returns the ``Entity``s found (type, character span, matched text); ``redact(text)``
replaces them. The safety scorers (``pii_leak``) use it to tell whether a response leaked private data;
monitoring uses ``redact`` to anonymise events before they are stored. Everything is pure Python
(``re``, ``ipaddress``, ``base64``), fast enough for tens of thousands of texts per second.

Entity types and how each is validated (a match that fails validation is not reported):

==============  ==============================================================================
``email``       RFC-5321-ish local part ``@`` domain with a 2-24 letter TLD
``phone``       E.164 (``+``/``00`` country code) or grouped national numbers, 9-15 digits; a bare
                digit run counts only after a word such as "phone", "call", "tel"
``credit_card`` 13-19 digits (optionally grouped by spaces/dashes), a known issuer prefix and a valid
                Luhn checksum
``iban``        country code with its registered length and the ISO 13616 mod-97 checksum
``national_id`` US SSN (area/group/serial rules), UK National Insurance number, Spanish DNI (check
                letter)
``ip_address``  IPv4 (octets 0-255, not part of a longer dotted run) and IPv6 (``ipaddress`` parses it)
``api_key``     known provider prefixes: OpenAI/Anthropic ``sk-``, GitHub, AWS, Google, Slack, Stripe,
                GitLab, Hugging Face, npm, SendGrid, JSON Web Tokens
``secret``      private-key blocks; a value assigned to a word like ``password``/``token``/``secret``;
                bare random-looking tokens (mixed classes, Shannon entropy >= 4 bits/char, not
                base64-encoded text)
==============  ==============================================================================

Limits: names and postal addresses need a language model (see shared/OFFLINE_MODELS.md, Presidio);
obfuscated forms ("jane at example dot com") are not detected.

Modules: ``entity`` (``Entity``, the types), ``checksums`` (Luhn, mod-97, entropy), ``shape`` (text
shapes, which let each pattern be tried only where it can match), the detectors by family
(``addresses``: e-mail, IP; ``numbers``: cards, IBANs, national IDs, phones; ``credentials``: API keys
and secrets), ``detection`` (``detect``: which detectors run, overlaps) and ``redaction``.

Example:
    >>> [(e.type, e.text) for e in detect("Mail jane.doe@example.com or call +44 20 7946 0958.")]
    [('email', 'jane.doe@example.com'), ('phone', '+44 20 7946 0958')]
    >>> redact("card 4111 1111 1111 1111, ip 10.0.0.7")
    'card [CREDIT_CARD], ip [IP_ADDRESS]'
"""

from __future__ import annotations

# Also importable from here (``X as X`` below), as when ``assay.pii`` was one module: ``ReplacementStyle``
# (the type of ``redact``'s ``style``) and, for the tests, ``_DETECTORS``, ``_entity`` and ``_shape``.
from assay.pii import addresses, checksums, credentials, detection, entity, numbers, redaction, shape
from assay.pii.checksums import iban_valid, luhn_valid, shannon_entropy
from assay.pii.detection import _DETECTORS as _DETECTORS
from assay.pii.detection import detect
from assay.pii.entity import ENTITY_TYPES, Entity
from assay.pii.entity import _entity as _entity
from assay.pii.redaction import ReplacementStyle as ReplacementStyle
from assay.pii.redaction import redact, redact_entities
from assay.pii.shape import _shape as _shape

__all__ = [
    "ENTITY_TYPES",
    "Entity",
    "detect",
    "iban_valid",
    "luhn_valid",
    "redact",
    "redact_entities",
    "shannon_entropy",
]


def _docstring_examples() -> dict[str, object]:
    """The package's docstrings that hold examples, by name, for ``__test__``.

    ``doctest.testmod(assay.pii)`` looks only at what ``assay/pii/__init__.py`` defines itself, plus the
    objects in its ``__test__``: listing them there keeps every example of the package running (as it
    did when ``assay.pii`` was one module). The examples run with this module's names.
    """
    examples: dict[str, object] = {}
    for module in (entity, checksums, shape, addresses, numbers, credentials, detection, redaction):
        if ">>>" in (module.__doc__ or ""):
            examples[module.__name__] = module
        for name, obj in vars(module).items():
            defined_here = getattr(obj, "__module__", None) == module.__name__
            if defined_here and callable(obj) and ">>>" in (obj.__doc__ or ""):
                examples[f"{module.__name__}.{name}"] = obj
    return examples


__test__ = _docstring_examples()
